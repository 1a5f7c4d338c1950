"""MER-UniBench end to end (`affectgpt benchmark`): the test sets (testsets.py) -> batched inference -> label
extraction -> scores -> the summary beside the paper's Table 2 (summary.py), resumable from the stored outputs
(outputs.py). runner.py runs it."""

from .._lazy import lazy_exports

_EXPORTS = {
    "BEST_EPOCH": "runner",
    "BenchmarkConfig": "arguments",
    "BenchmarkRunner": "runner",
    "CONFIG_OF": "runner",
    "SINGLE": "runner",
    "TestSet": "runner",
    "load_testset": "runner",
    "markdown_report": "runner",
    "resolve_checkpoints": "runner",
    "resolve_datasets": "runner",
    "run_benchmark": "runner",
    "strongest_peers": "runner",
    "versions": "runner",
    "write_benchmark_report": "runner",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
