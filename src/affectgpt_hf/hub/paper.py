"""The paper's facts in one place: its arXiv id, link and Hub tag, title, citation and upstream repository.

The Hub links a model, data set or Space to the paper page through an ``arxiv.org/abs/...`` link or an ``arxiv:``
tag; every card this package writes, and the static READMEs of the metric and the Space, carry both.
"""

from __future__ import annotations

ARXIV_ID = "2501.16566"
PAPER_URL = f"https://arxiv.org/abs/{ARXIV_ID}"
ARXIV_TAG = f"arxiv:{ARXIV_ID}"
PAPER_TITLE = (
    "AffectGPT: A New Dataset, Model, and Benchmark for Emotion Understanding with Multimodal Large Language Models"
)
VENUE = "Lian et al., ICML 2025"
UPSTREAM_REPO = "https://github.com/zeroQiaoba/AffectGPT"
UPSTREAM_COMMIT = "fffca79"  # the upstream source this package reproduces
UPSTREAM_WEIGHTS = "MERChallenge/AffectGPT"  # upstream's released checkpoints on the Hub (its README)
UPSTREAM_LICENSE = "apache-2.0"  # upstream's LICENSE; its README adds: a research preview, non-commercial use only
CITATION = f"""@inproceedings{{lian2025affectgpt,
  title={{AffectGPT: A New Dataset, Model, and Benchmark for Emotion Understanding with Multimodal Large
         Language Models}},
  author={{Lian, Zheng and Chen, Haoyu and Chen, Lan and Sun, Haiyang and Sun, Licai and Ren, Yong and Cheng, Zebang and
          Liu, Bin and Liu, Rui and Peng, Xiaojiang and Yi, Jiangyan and Tao, Jianhua}},
  booktitle={{International Conference on Machine Learning (ICML)}},
  year={{2025}},
  eprint={{{ARXIV_ID}}},
  archivePrefix={{arXiv}}
}}"""

__all__ = [
    "ARXIV_ID",
    "ARXIV_TAG",
    "CITATION",
    "PAPER_TITLE",
    "PAPER_URL",
    "UPSTREAM_COMMIT",
    "UPSTREAM_LICENSE",
    "UPSTREAM_REPO",
    "UPSTREAM_WEIGHTS",
    "VENUE",
]
