"""The upstream-format npz files beside this script, written with upstream's pinned numpy 1.23.5 the way upstream's code
writes them (np.savez_compressed with dict values -> 0-d object arrays). Run: /work/upstream-env/venv/bin/python THIS DIR."""
import sys
import numpy as np
out = sys.argv[1]
names = ["sample_00000007", "samplenew3_00000011"]
np.savez_compressed(f"{out}/checkpoint_000030_loss_0.612.npz", name2reason={n: f"The person looks calm ({i})." for i, n in enumerate(names)})
np.savez_compressed(f"{out}/checkpoint_000030_loss_0.612-openset.npz", filenames=np.array(names), fileitems=np.array(["[happy, calm]", "[sad]"]))
np.savez_compressed(f"{out}/checkpoint_000030_loss_0.612-openset-sentiment.npz", filenames=np.array(names), fileitems=np.array(["positive", "negative"]))
np.savez_compressed(f"{out}/label_6way.npz", train_corpus={"a": {"emo": "happy"}}, test1_corpus={"x1": {"emo": "worried"}, "x2": {"emo": np.str_("happy")}})
np.savez_compressed(f"{out}/label_meld.npz", test_corpus={"m1": {"emo": 2}, "m2": {"emo": np.int64(0)}})
np.savez_compressed(f"{out}/label_val.npz", test_corpus={"v1": {"val": -1.2}, "v2": {"val": np.float32(0.4)}, "v3": {"val": np.array(2.0)}})
print(np.__version__)
