"""LoRA baselines through peft: adapters on the attention projections, trained by the same ``train`` loop."""
from __future__ import annotations

from peft import LoraConfig, PeftModel, get_peft_model

from ..errors import TaskNeuronsError
from ..models.ffn import ffn_map_for

# FFN-map family -> the attention query and value projections (fused qkv where a family has no separate ones).
LORA_TARGETS = {
    "llama": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "gemma2": ["q_proj", "v_proj"], "phi3": ["qkv_proj"], "gpt2": ["c_attn"],
    "gpt_neox": ["query_key_value"], "gptj": ["q_proj", "v_proj"], "opt": ["q_proj", "v_proj"],
    "bloom": ["query_key_value"], "falcon": ["query_key_value"],
}


def add_lora(lm, r: int = 8, alpha: int = 16, dropout: float = 0.0, target_modules: list[str] | None = None) -> PeftModel:
    """Wrap ``lm`` (a LoadedModel or a model) with LoRA adapters; base weights are frozen. The adapters are
    injected into the model in place, so ``lm.model`` runs them too (``peft_model.unload()`` takes them out)."""
    model = getattr(lm, "model", lm)
    ffn_map = ffn_map_for(model.config.model_type)
    targets = list(target_modules) if target_modules else LORA_TARGETS[ffn_map.family]
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM",
                        fan_in_fan_out=ffn_map.transposed)
    try:
        return get_peft_model(model, config)
    except ValueError as e:
        raise TaskNeuronsError(f"cannot add LoRA on {targets} to this {ffn_map.family} model: "
                               f"{str(e).strip().splitlines()[0]}") from None


def lora_parameters(peft_model: PeftModel) -> list:
    """The adapters' trainable parameters."""
    return [p for p in peft_model.parameters() if p.requires_grad]
