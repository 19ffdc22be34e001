"""Prompt templates, one family per source of task data.

Templates are ``str.format`` strings over the fields of one record. Three families:

- **Yang et al.** (NAACL 2024, ``LHRYANG/Generalization_of_FT-LLM``): the first dict of their
  ``data/prompt_map.json``, copied into every Yang folder; the paper's identification tasks use them.
- **O-LoRA** (``cmnfriend/O-LoRA``): the zero-shot instructions of ``configs/instruction_config_cl.json``,
  assembled as ``src/uie_dataset_lora.py`` does: instruction, ``Option: <labels>``, the sentence, ``Answer:``.
- **Ours**: TweetQA, E2E and CommonGen, for which neither the paper nor Yang et al. give a template.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import TaskNeuronsError

# Yang et al.'s prompt_map.json[0], verbatim.
YANG_TEMPLATES = {
    "summary": "### Input:\n{input}\n### Summary:",
    "question": "### Input:\n{input}\n### Answer:\n{answer}\n### Question:",
    "sentiment": "### Input:\n{input}\n### Sentiment:",
    "inference": "### Input_1:\n{input_1}\n### Input_2:\n{input_2}\n### Inference:",
    "detection": "### Input_1:\n{input_1}\n### Input_2:\n{input_2}\n### Paraphrase Classification:",
}

# O-LoRA's zero-shot instructions per task type, verbatim (each ends with a newline).
OLORA_INSTRUCTIONS = {
    "TC": "What is the topic of the following paragraph? Choose one from the option.\n",
    "SC": "What is the sentiment of the following paragraph? Choose one from the option.\n",
    "NLI": 'What is the logical relationship between the "sentence 1" and the "sentence 2"? Choose one from the option.\n',
    "QQP": 'Whether the "first sentence" and the "second sentence" have the same meaning? Choose one from the option.\n',
}

# O-LoRA's CL_Benchmark folders: TC/agnews, TC/dbpedia, TC/yahoo, SC/amazon, SC/SST-2, NLI/MNLI, NLI/RTE, QQP/QQP.
OLORA_TASK_TYPES = {
    "agnews": "TC", "dbpedia": "TC", "yahoo": "TC",
    "amazon": "SC", "sst2": "SC", "sst-2": "SC",
    "mnli": "NLI", "rte": "NLI",
    "qqp": "QQP",
}

# Ours (the paper gives no template for these): the Yang "### Field:" style, so all generation tasks look alike.
TWEETQA_TEMPLATE = "### Input:\n{tweet}\n### Answer:\n{answer}\n### Question:"
E2E_TEMPLATE = "### Input:\n{mr}\n### Description:"
COMMONGEN_TEMPLATE = "### Concepts:\n{concepts}\n### Sentence:"


def yang_template(kind: str, folder: str | Path | None = None, prompt_index: int = 0) -> str:
    """Yang et al.'s template for ``kind``, read from ``folder/prompt_map.json`` when there is one."""
    path = Path(folder) / "prompt_map.json" if folder else None
    if path is None or not path.is_file():
        if prompt_index != 0:
            raise TaskNeuronsError(f"prompt_index={prompt_index} needs a prompt_map.json; only index 0 is built in")
        return YANG_TEMPLATES[kind]
    try:
        prompt_map = json.loads(path.read_text(encoding="utf-8"))
        return prompt_map[prompt_index][kind]
    except json.JSONDecodeError as e:
        raise TaskNeuronsError(f"{path}: not valid JSON (line {e.lineno} column {e.colno}): {e.msg}") from None
    except (IndexError, KeyError, TypeError):
        raise TaskNeuronsError(f"{path}: expected a list of dicts with key {kind!r} at index {prompt_index}") from None


def olora_template(task_type: str, labels: tuple[str, ...] | list[str]) -> str:
    """O-LoRA's prompt: instruction, the options (the task's labels), ``{sentence}``, then ``Answer:``."""
    if task_type not in OLORA_INSTRUCTIONS:
        raise TaskNeuronsError(f"O-LoRA task type {task_type!r} is not one of {sorted(OLORA_INSTRUCTIONS)}")
    options = escape(", ".join(labels))
    return OLORA_INSTRUCTIONS[task_type] + "Option: " + options + " \n{sentence}\nAnswer:"


def escape(text: str) -> str:
    """Make literal text safe to embed in a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")
