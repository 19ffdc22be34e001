"""Tiny random models, one per supported family, built from configs: for tests and quick trials, no download.

They share a byte-level tokenizer (256 bytes + specials) built in memory with ``tokenizers``. The libraries are
imported by the functions that use them: the names (``TINY_CONFIGS``) are read before torch is imported.
"""
from __future__ import annotations

VOCAB = 256 + 3  # bytes, then <pad>, <bos>, <eos>
_COMMON = dict(vocab_size=VOCAB, pad_token_id=256, bos_token_id=257, eos_token_id=258, tie_word_embeddings=False)
_LLAMA_LIKE = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=256)

# name -> (model_type, config overrides). Sizes: hidden 32, FFN width 48 or 4 x 32, 2 layers.
TINY_CONFIGS: dict[str, tuple[str, dict]] = {
    "tiny-llama": ("llama", _LLAMA_LIKE),
    "tiny-mistral": ("mistral", dict(_LLAMA_LIKE, sliding_window=None)),
    "tiny-qwen2": ("qwen2", _LLAMA_LIKE),
    "tiny-qwen3": ("qwen3", dict(_LLAMA_LIKE, head_dim=8)),
    "tiny-gemma": ("gemma", dict(_LLAMA_LIKE, head_dim=8, tie_word_embeddings=True)),  # tied, as the real ones
    "tiny-gemma2": ("gemma2", dict(_LLAMA_LIKE, head_dim=8, sliding_window=64, tie_word_embeddings=True)),
    "tiny-gemma3": ("gemma3_text", dict(_LLAMA_LIKE, head_dim=8, sliding_window=64, tie_word_embeddings=True)),
    "tiny-phi3": ("phi3", dict(_LLAMA_LIKE, pad_token_id=256)),
    "tiny-gpt2": ("gpt2", dict(n_embd=32, n_layer=2, n_head=4, n_positions=256)),
    "tiny-gpt-neox": ("gpt_neox", dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, max_position_embeddings=256)),
    "tiny-gptj": ("gptj", dict(n_embd=32, n_layer=2, n_head=4, n_positions=256, rotary_dim=4)),
    "tiny-opt": ("opt", dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                             max_position_embeddings=256, word_embed_proj_dim=32)),
    "tiny-bloom": ("bloom", dict(hidden_size=32, n_layer=2, n_head=4)),
    "tiny-falcon": ("falcon", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   new_decoder_architecture=False, multi_query=True, bias=True)),
}


def tiny_tokenizer():
    """A byte-level tokenizer: every UTF-8 byte is one token (BPE without merges), so any text encodes offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({"<pad>": 256, "<bos>": 257, "<eos>": 258})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")


def tiny_config(name: str):
    """The transformers config of the named tiny model."""
    from transformers import AutoConfig

    model_type, overrides = TINY_CONFIGS[name]
    return AutoConfig.for_model(model_type, **{**_COMMON, **overrides})


def tiny_model(name: str, seed: int = 0):
    """A randomly initialised model of the named tiny config (seeded, so every call gives the same weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_config(name)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return model.eval()
