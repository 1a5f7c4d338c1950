"""Model-based crowdsourcing of MER-Caption (paper Sec. 2, App. G): clues -> merged descriptions -> two filters.

Run with ``python dataset_scripts/crowdsource/run.py`` or, sharded over GPUs, ``accelerate launch ... run.py``.
"""
