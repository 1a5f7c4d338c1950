"""A tiny chat model (Llama architecture, word-level tokenizer) whose weights are set by hand so that `generate`
answers known words: the LLM judge's real transformers path (chat template, left padding, prompt slicing,
decoding) can then be checked exactly.

How the weights make the answer (one decoder layer, hidden size = vocabulary + 2 per rule, made even):
- the embedding is one-hot, so the residual stream of a position starts as its own token;
- attention has zero queries and keys, so every position averages the values of the positions it may see (causal,
  padding masked); the values mark each rule's trigger word, so a rule's "trigger seen" dimension becomes the
  trigger's share of the prompt (RoPE rotates zero vectors only: positions do not matter);
- the MLP's gate opens only on the generation prompt's last word (``assistant``); it copies each "trigger seen"
  share, amplified, into the rule's "fire" dimension;
- the LM head maps every answer word to its successor (the last one to eos), ``assistant`` to the default answer's
  first word, and a rule's "fire" dimension, far more strongly, to the rule's first word.

So the answer to a prompt containing a rule's trigger is that rule's words, else the default's, whatever the prompt's
length; a right-padded batch ends on padding instead of ``assistant`` and answers nothing. (Llama, not Qwen2:
`AutoTokenizer` reloads a saved qwen2 folder as Qwen2's byte-level BPE tokenizer, which a word-level one is not.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

SPECIALS = ("<pad>", "<unk>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)


def rigged_chat_model(rules: Sequence[tuple[str, str]], default: str, extra_words: Sequence[str] = ()):
    """(model, tokenizer): a prompt containing the word ``trigger`` of ``rules[i] = (trigger, answer)`` is answered
    ``answer``, any other ``default``. Words are whitespace-separated; unknown words read as ``<unk>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    answers = [default.split(), *(answer.split() for _, answer in rules)]
    firsts = [words[0] for words in answers]
    if len(set(firsts)) != len(firsts):
        raise ValueError(f"answers must start with different words, got {firsts}")
    successor: dict[str, str] = {}
    for words in answers:
        for word, after in zip(words, [*words[1:], "<|im_end|>"], strict=True):
            if successor.setdefault(word, after) != after:
                raise ValueError(f"{word!r} is followed by both {successor[word]!r} and {after!r}")
    words = sorted({"user", "assistant", *extra_words, *successor, *(t for t, _ in rules)} - set(SPECIALS))
    vocab = {word: index for index, word in enumerate([*SPECIALS, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        additional_special_tokens=list(SPECIALS[2:]),
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    n_vocab, n_rules = len(vocab), len(rules)
    hidden = n_vocab + 2 * n_rules + (n_vocab % 2)  # even: RoPE rotates pairs of the (single) head's dimensions
    seen = [n_vocab + 2 * r for r in range(n_rules)]
    fire = [n_vocab + 2 * r + 1 for r in range(n_rules)]
    config = LlamaConfig(
        vocab_size=n_vocab,
        hidden_size=hidden,
        intermediate_size=max(1, n_rules),
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    scale = hidden**-0.5  # an RMS-normalised one-hot vector has the value sqrt(hidden)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.model.embed_tokens.weight[:, :n_vocab] = torch.eye(n_vocab)
        layer = model.model.layers[0]
        for norm in (layer.input_layernorm, layer.post_attention_layernorm, model.model.norm):
            norm.weight.fill_(1.0)
        for r, (trigger, _) in enumerate(rules):
            layer.self_attn.v_proj.weight[seen[r], vocab[trigger]] = scale  # 1 on the trigger, 0 elsewhere
            layer.self_attn.o_proj.weight[seen[r], seen[r]] = 1.0
            layer.mlp.gate_proj.weight[r, vocab["assistant"]] = 20.0 * scale  # silu(20) on `assistant`, silu(0) = 0
            layer.mlp.up_proj.weight[r, seen[r]] = 100.0 * scale
            layer.mlp.down_proj.weight[fire[r], r] = 1.0
        head = model.lm_head.weight
        for word, after in successor.items():
            head[vocab[after], vocab[word]] = 10.0
        head[vocab[firsts[0]], vocab["assistant"]] = 10.0
        for r in range(n_rules):
            head[vocab[firsts[r + 1]], fire[r]] = 10.0
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.eos_token_id = vocab["<|im_end|>"]
    return model, tokenizer
