#!/usr/bin/env bash
# Set up the project on a fresh clone: Debian packages, a virtual environment at .venv, the package with its dev tools.
# torch is pinned and installed first: any open range would make pip pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: chromium (the Space's screenshot test), espeak-ng (spoken test clips for speech recognition).
# PyAV bundles FFmpeg, so no ffmpeg package is needed.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! { command -v chromium && command -v espeak-ng; } >/dev/null
then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium espeak-ng >/dev/null) \
    || echo "setup: could not install chromium and espeak-ng; the tests that need them will be skipped" >&2
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev,space,serve,quantization]"
# Built-in face crops (faces.py; the tests need them): MTCNN weights from facenet-pytorch's wheel. --no-deps on
# purpose: its metadata pins torch<2.3 and numpy<2, but its code is never imported, only data/{p,r,o}net.pt are read.
.venv/bin/pip install -q --no-deps facenet-pytorch==2.6.0
# Tests and perf/bench_asr.py: Whisper's real multilingual vocabulary for a tiny random Whisper, read from the
# openai-whisper sdist's whisper/assets/multilingual.tiktoken. Its code is never imported (it needs numba).
.venv/bin/pip install -q --no-deps openai-whisper==20250625
