"""One chat template for SFT and DPO; LoRA DPO keeps one copy of the base weights."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from qilin.chat_templates import IGNORE_INDEX, chat_token_ids
from qilin.config import DpoSettings, LoraSettings, ModelSettings
from qilin.data.text.conversations import tokenize_conversation
from qilin.models.loading import load_tokenizer
from qilin.stages import dpo
from tests.conftest import stage_context

CONVERSATION = [
    {"role": "system", "content": "你是医生。"},
    {"role": "user", "content": "高血压挂什么科？"},
    {"role": "assistant", "content": "心内科。"},
    {"role": "user", "content": "常用什么药？"},
    {"role": "assistant", "content": "氨氯地平。"},
]


def test_labels_cover_exactly_the_assistant_turns(tiny_model_dir: Path) -> None:
    tok = load_tokenizer(tiny_model_dir, ModelSettings())
    ids, labels = tokenize_conversation(tok, CONVERSATION, max_length=512)
    assert len(ids) == len(labels)
    spans, current = [], []
    for token, label in zip(ids, labels, strict=True):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            spans.append(tok.decode(current))
            current = []
    if current:
        spans.append(tok.decode(current))
    assert spans == ["心内科。<|im_end|>\n", "氨氯地平。<|im_end|>\n"]


def test_truncation_keeps_the_start(tiny_model_dir: Path) -> None:
    tok = load_tokenizer(tiny_model_dir, ModelSettings())
    full, _ = tokenize_conversation(tok, CONVERSATION, max_length=512)
    ids, labels = tokenize_conversation(tok, CONVERSATION, max_length=10)
    assert ids == full[:10] and len(labels) == 10


def _dpo_trainer(tiny_model_dir: Path, data_files: dict, tmp_path: Path, **kw) -> dpo.DPOTrainer:
    cfg = DpoSettings(
        data=[str(data_files["dpo"])],
        lora=LoraSettings(r=4, alpha=8),
        batch_size=2,
        max_steps=1,
        warmup_ratio=0.0,
        save_steps=100,
        **kw,
    )
    return dpo.build_dpo_trainer(
        stage_context(cfg, [data_files["dpo"]], tiny_model_dir, ModelSettings(), tmp_path / "dpo")
    )


def test_dpo_prompt_renders_with_the_sft_template(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    trainer = _dpo_trainer(tiny_model_dir, data_files, tmp_path)
    tok = trainer.processing_class
    row = trainer.train_dataset[0]
    prompt = [{"role": "user", "content": "高血压挂什么科？"}]
    chosen = "高血压应到心内科就诊。"
    # the prompt trl trains on is the SFT prompt of the same conversation, token for token
    assert row["prompt_ids"] == chat_token_ids(tok, prompt, add_generation_prompt=True)
    ids, labels = tokenize_conversation(tok, [*prompt, {"role": "assistant", "content": chosen}], max_length=512)
    first_label = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    assert row["prompt_ids"] == ids[:first_label]
    assert row["chosen_ids"] == ids[first_label:]  # and the response tokens are the SFT targets
    assert tok.decode(row["prompt_ids"]) == "<|im_start|>user\n高血压挂什么科？<|im_end|>\n<|im_start|>assistant\n"


def _unique_tensor_elements(*modules: torch.nn.Module) -> int:
    seen, total = set(), 0
    for module in modules:
        for t in [*module.parameters(), *module.buffers()]:
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())
            if key not in seen:
                seen.add(key)
                total += t.numel()
    return total


def test_lora_dpo_holds_one_copy_of_the_base_weights(tiny_model_dir: Path, data_files: dict, tmp_path: Path) -> None:
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base_elements = _unique_tensor_elements(base)
    trainer = _dpo_trainer(tiny_model_dir, data_files, tmp_path)
    assert trainer.ref_model is None  # the reference is the policy with its adapter disabled
    lora_elements = sum(p.numel() for n, p in trainer.model.named_parameters() if "lora_" in n)
    assert lora_elements > 0
    assert _unique_tensor_elements(trainer.model) == base_elements + lora_elements

    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    frozen = [n for n in before if "lora_" not in n]
    assert all(torch.equal(before[n], after[n]) for n in frozen), "a base weight changed under LoRA"
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n), "LoRA did not train"
