"""SFT packing: whole conversations per row, packed loss == unpacked loss, no attention between conversations."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from qilin.chat_templates import IGNORE_INDEX
from qilin.config import ModelSettings, SftSettings
from qilin.data.text.sft_packing import PackedCollator, pack_conversations
from qilin.models.loading import load_tokenizer, packs_by_position_ids
from qilin.stages import sft
from qilin.stages.protocol import StageContext
from tests.conftest import write_jsonl


def _conversations(tokenizer) -> list[dict]:
    rows = []
    for i in range(24):
        question = "高血压挂什么科？" * (1 + i % 5)
        answer = "高血压应到心内科就诊。" * (1 + (i * 7) % 4)
        rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return rows


def test_rows_hold_whole_conversations_best_fit() -> None:
    examples = [
        {"input_ids": [i] * n, "labels": [IGNORE_INDEX] * (n // 2) + [i] * (n - n // 2)}
        for i, n in enumerate([60, 10, 35, 64, 5, 30, 29, 1, 40, 24])
    ]
    rows = pack_conversations(examples, max_length=64)
    assert all(len(r["input_ids"]) <= 64 for r in rows)
    # every conversation exactly once, intact, with positions 0..n-1 and its own labels
    seen = []
    for row in rows:
        starts = [j for j, p in enumerate(row["position_ids"]) if p == 0] + [len(row["input_ids"])]
        for a, b in itertools.pairwise(starts):
            (i,) = set(row["input_ids"][a:b])
            assert row["labels"][a:b] == examples[i]["labels"]
            assert row["position_ids"][a:b] == list(range(b - a))
            seen.append(i)
    assert sorted(seen) == list(range(len(examples)))
    total = sum(len(e["input_ids"]) for e in examples)
    assert len(rows) == -(-total // 64) == 5  # 298 tokens fit the minimum number of rows


def _token_loss_sum(model, batch: dict) -> tuple[float, int]:
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum")
    return float(loss), int((labels != IGNORE_INDEX).sum())


def test_packed_loss_equals_unpacked_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    data = write_jsonl(tmp_path / "sft.jsonl", _conversations(tokenizer))
    examples, _ = sft.build_sft_examples([data], tokenizer, max_length=128)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    collate = PackedCollator(tokenizer.pad_token_id)
    rows = pack_conversations(examples, max_length=128)
    assert len(rows) < len(examples) / 2
    with torch.no_grad():
        packed = [_token_loss_sum(model, collate(rows[i : i + 4])) for i in range(0, len(rows), 4)]
        alone = [_token_loss_sum(model, {k: torch.tensor([e[k]]) for k in ("input_ids", "labels")}) for e in examples]
    assert sum(n for _, n in packed) == sum(n for _, n in alone)
    assert sum(s for s, _ in packed) == pytest.approx(sum(s for s, _ in alone), rel=1e-5)


def test_no_attention_between_packed_conversations(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    collate = PackedCollator(pad_id=0)
    second = {"input_ids": [21, 22, 23], "labels": [IGNORE_INDEX, 22, 23]}
    logits = []
    for first in ([11, 12, 13, 14], [31, 32, 33, 34]):
        (row,) = pack_conversations([{"input_ids": first, "labels": first}, second], max_length=8)
        batch = collate([row])
        with torch.no_grad():
            out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        logits.append(out[0, 4:7])
    torch.testing.assert_close(logits[0], logits[1])


def test_remote_code_models_are_not_packed() -> None:
    class OwnCode(torch.nn.Module):  # stands in for a trust_remote_code class (module outside transformers)
        pass

    assert not packs_by_position_ids(OwnCode())
    from transformers import LlamaConfig, LlamaForCausalLM

    assert packs_by_position_ids(
        LlamaForCausalLM(LlamaConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2))
    )


def test_packed_sft_stage_trains_fewer_rows_than_conversations(tiny_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    data = write_jsonl(tmp_path / "sft.jsonl", _conversations(tokenizer))
    cfg = SftSettings(
        data=[str(data)],
        max_length=128,
        batch_size=2,
        epochs=4,
        learning_rate=2e-3,
        warmup_ratio=0,
        logging_steps=1,
        finetune="full",
    )
    metrics = sft.run(StageContext(cfg, [data], ["x"], tiny_model_dir, ModelSettings(), tmp_path / "sft"))
    assert metrics["examples"] == 24 and metrics["rows"] < 12
    assert metrics["steps"] == 4 * -(-metrics["rows"] // 2)
    assert metrics["last_loss"] < metrics["first_loss"] - 0.5
    assert metrics["tokens_per_second"] > 0
    history = json.loads((tmp_path / "sft" / "log_history.json").read_text())
    assert round(history[0]["loss"], 4) == metrics["first_loss"]
