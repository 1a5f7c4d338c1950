"""Writes the upstream-format npz files beside this script with upstream's pinned numpy 1.23.5, as upstream's code
writes them (``np.savez_compressed`` with dict values -> 0-d object arrays pickled with ``numpy.core`` globals).

Run: $AFFECTGPT_UPSTREAM_ENV/venv/bin/python tests/golden/upstream_npz/make_upstream_npz.py tests/golden/upstream_npz
"""

import sys

import numpy as np

out = sys.argv[1]
names = ["sample_00000007", "samplenew3_00000011"]
stem = f"{out}/checkpoint_000030_loss_0.612"
np.savez_compressed(f"{stem}.npz", name2reason={n: f"The person looks calm ({i})." for i, n in enumerate(names)})
np.savez_compressed(f"{stem}-openset.npz", filenames=np.array(names), fileitems=np.array(["[happy, calm]", "[sad]"]))
np.savez_compressed(
    f"{stem}-openset-sentiment.npz", filenames=np.array(names), fileitems=np.array(["positive", "negative"])
)
np.savez_compressed(
    f"{out}/label_6way.npz",
    train_corpus={"a": {"emo": "happy"}},
    test1_corpus={"x1": {"emo": "worried"}, "x2": {"emo": np.str_("happy")}},
)
np.savez_compressed(f"{out}/label_meld.npz", test_corpus={"m1": {"emo": 2}, "m2": {"emo": np.int64(0)}})
np.savez_compressed(
    f"{out}/label_val.npz",
    test_corpus={"v1": {"val": -1.2}, "v2": {"val": np.float32(0.4)}, "v3": {"val": np.array(2.0)}},
)
print(np.__version__)
