"""Per-source loss: the pure sums, and what a real CPT run logs (hand-checked, and telling sources apart)."""

import json
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, TrainingArguments, default_data_collator

from qilin.chat_templates import IGNORE_INDEX
from qilin.config import CptSettings, ModelSettings
from qilin.stages import cpt
from qilin.stages.protocol import StageContext
from qilin.training import source_loss
from tests.conftest import corpus_lines


def test_source_token_loss_sums_match_cross_entropy_per_block(monkeypatch) -> None:
    monkeypatch.setattr(source_loss, "_LOSS_CHUNK_TOKENS", 3)  # blocks of 9 tokens cross several chunks
    torch.manual_seed(0)
    logits = torch.randn(4, 9, 11)  # (B, T, V)
    labels = torch.randint(0, 11, (4, 9))
    labels[:, 0] = IGNORE_INDEX
    labels[1, 4:] = IGNORE_INDEX
    source = torch.tensor([2, 0, 2, 0])
    sums, counts = source_loss.source_token_loss_sums(logits, labels, source, num_sources=3)
    expected_sums, expected_counts = torch.zeros(3), torch.zeros(3, dtype=torch.int64)
    for b in range(4):
        per_token = F.cross_entropy(logits[b, :-1], labels[b, 1:], ignore_index=IGNORE_INDEX, reduction="none")
        expected_sums[source[b]] += per_token.sum()
        expected_counts[source[b]] += int((labels[b, 1:] != IGNORE_INDEX).sum())
    torch.testing.assert_close(sums, expected_sums)
    assert counts.tolist() == expected_counts.tolist() == [8 + 3, 0, 16]


def _write_sources(tmp_path: Path, lines: int = 200) -> list[Path]:
    """'repeat': one line over and over (trivially predictable); 'noise': lines of random characters."""
    rng = random.Random(0)
    chars = sorted(set("".join(corpus_lines())))
    repeat = tmp_path / "repeat.txt"
    repeat.write_text(("".join(rng.choices(chars, k=18)) + "\n") * lines, encoding="utf-8")
    noise = tmp_path / "noise.txt"
    noise.write_text("\n".join("".join(rng.choices(chars, k=18)) for _ in range(lines)) + "\n", encoding="utf-8")
    return [repeat, noise]


def _cfg(data: list[Path], **kw) -> CptSettings:
    base = {
        "data": [str(p) for p in data],
        "block_size": 32,
        "finetune": "full",
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "save_steps": 1000,
        "tokenize_processes": 1,
    }
    return CptSettings(**{**base, **kw})


def test_per_source_loss_is_logged_and_tells_the_sources_apart(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _write_sources(tmp_path)
    cfg = _cfg(data, batch_size=8, max_steps=30, learning_rate=1e-2, logging_steps=10)
    metrics = cpt.run(StageContext(cfg, data, ["r", "n"], tiny_model_dir, ModelSettings(), tmp_path / "cpt"))
    history = json.loads((tmp_path / "cpt" / "log_history.json").read_text())
    logs = [h for h in history if "loss" in h]
    assert [h["step"] for h in logs] == [1, 10, 20, 30]
    assert all("loss/repeat" in h and "loss/noise" in h for h in logs)
    first, last = logs[0], logs[-1]
    assert abs(first["loss/repeat"] - first["loss/noise"]) < 0.1  # untrained: both near log(vocabulary)
    assert last["loss/repeat"] < last["loss/noise"] - 1.0, last  # measured 2.19 against 4.52
    assert last["loss/repeat"] < 0.5 * first["loss/repeat"]  # the predictable source is learned
    assert metrics["source_loss"] == {
        "repeat": round(last["loss/repeat"], 4),
        "noise": round(last["loss/noise"], 4),
    }
    # and it reaches TensorBoard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "cpt" / "tensorboard")).Reload()
    assert {"train/loss/repeat", "train/loss/noise"} <= set(events.Tags()["scalars"])


def _hand_computed(model_dir: Path, dataset) -> tuple[dict[str, float], float]:
    """Each source's token loss over every block, and the overall one, from plain forward passes."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    sums, counts = dict.fromkeys(dataset.source_names, 0.0), dict.fromkeys(dataset.source_names, 0)
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            ids, pos = item["input_ids"][None], item["position_ids"][None]
            logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0]  # no cache: packed mask
            name = dataset.source_names[item["source"]]
            sums[name] += F.cross_entropy(logits[:-1], item["labels"][1:], reduction="sum").item()
            counts[name] += int((item["labels"][1:] != IGNORE_INDEX).sum())
    return {name: sums[name] / counts[name] for name in sums}, sum(sums.values()) / sum(counts.values())


def test_logged_source_loss_equals_a_hand_computed_forward_pass(tiny_model_dir: Path, tmp_path: Path) -> None:
    """One step over every block at once: the logged figure is each source's total token loss / its label tokens."""
    data = _write_sources(tmp_path, lines=40)
    dataset = cpt.build_packed_corpus(data, ["r", "n"], cpt.load_tokenizer(tiny_model_dir, ModelSettings()), 32)
    cfg = _cfg(data, batch_size=len(dataset), max_steps=1, logging_steps=1)
    metrics = cpt.run(StageContext(cfg, data, ["r", "n"], tiny_model_dir, ModelSettings(), tmp_path / "cpt"))
    logged = json.loads((tmp_path / "cpt" / "log_history.json").read_text())[0]
    per_source, overall = _hand_computed(tiny_model_dir, dataset)
    for name in ("repeat", "noise"):
        assert abs(logged[f"loss/{name}"] - per_source[name]) < 1e-5  # measured within 1e-6
    assert abs(per_source["repeat"] - per_source["noise"]) > 1e-3  # the check can tell the two apart
    # the overall loss is the token-weighted mean of the two, not the mean of the two means
    assert abs(logged["loss"] - overall) < 1e-4
    assert set(metrics["source_loss"]) == {"repeat", "noise"}


def test_two_ddp_processes_log_the_loss_of_all_blocks(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Under torchrun each process sees half the blocks; the logged figures are reduced over both.

    (Process 0's half alone is 2e-4 off.) The packed corpus is not in the run's cache yet: process 0 packs it,
    process 1 waits for it.
    """
    data = _write_sources(tmp_path, lines=40)
    tokenizer = cpt.load_tokenizer(tiny_model_dir, ModelSettings())
    dataset = cpt.build_packed_corpus(data, ["r", "n"], tokenizer, 32, tmp_path / "elsewhere")
    assert len(dataset) % 2 == 0  # no block repeated to even out the two processes' shares
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = [
        "block_size=32", "finetune=full", "max_steps=1", "logging_steps=1", "tokenize_processes=1",
        f"batch_size={len(dataset) // 2}", "launch.launcher=torchrun", "launch.processes=2", f"launch.main_port={port}",
    ]  # fmt: skip
    command = [sys.executable, "-m", "qilin.cli", "train", "cpt", *settings, "--model", str(tiny_model_dir)]
    command += ["--data", *map(str, data), "--output", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)  # QILIN_CACHE is inherited
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("packed into") == 1
    record = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]["cpt"]
    assert (record["metrics"]["engine"], record["metrics"]["processes"]) == ("MULTI_CPU", 2)
    logged = json.loads((tmp_path / "run" / "cpt" / "log_history.json").read_text())[0]
    per_source, _ = _hand_computed(tiny_model_dir, dataset)
    for name in ("repeat", "noise"):
        assert abs(logged[f"loss/{name}"] - per_source[name]) < 1e-5  # measured within 1e-6


def test_a_model_without_logits_trains_and_logs_no_source_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Liger's fused cross-entropy returns no logits: per-source logging steps aside with a warning, no crash."""
    data = _write_sources(tmp_path, lines=20)
    dataset = cpt.build_packed_corpus(data, ["r", "n"], cpt.load_tokenizer(tiny_model_dir, ModelSettings()), 32)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    forward = model.forward

    def forward_without_logits(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits = None
        return out

    model.forward = forward_without_logits
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", remove_unused_columns=False)
    trainer = source_loss.SourceLossTrainer(
        model=model, args=args, data_collator=default_data_collator, source_names=dataset.source_names
    )
    batch = default_data_collator([dataset[0], dataset[len(dataset) - 1]])
    model.train()
    with pytest.warns(UserWarning, match="no logits"):
        loss = trainer.compute_loss(model, batch)
    assert torch.isfinite(loss)
    logs = {"loss": loss.item()}
    trainer.log(logs)
    assert not any(key.startswith("loss/") for key in logs)
