"""The stage store: an entry is served only when whole; a torn or altered one is removed and not used."""

import json
from pathlib import Path

import pytest

from qilin.pipeline import store as store_module
from qilin.pipeline.manifest import Manifest
from qilin.pipeline.store import StageStore

FINGERPRINT = "f" * 64


def _finished_stage(run_dir: Path) -> Manifest:
    """A run directory whose sft stage is complete and evaluated, as the runner leaves it."""
    stage = run_dir / "sft"
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "model.safetensors").write_bytes(bytes(range(256)) * 20)
    (stage / "model" / "config.json").write_text('{"hidden_size": 32}')
    (stage / "log_history.json").write_text('[{"step": 1, "loss": 2.0}]')
    (stage / "checkpoints" / "checkpoint-1").mkdir(parents=True)  # never stored
    (stage / "checkpoints" / "checkpoint-1" / "optimizer.pt").write_bytes(b"x" * 100)
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "sft.json").write_text('{"cmexam_acc": {"questions": "q", "correct": "1"}}')
    manifest = Manifest(run_dir, "t")
    manifest.update("sft", status="complete", fingerprint=FINGERPRINT, output="sft/model", metrics={"steps": 1})
    evaluation = {"cmexam_acc": {"value": 100.0, "label": "cmexam acc (%)", "n": 1, "interval": [20.65, 100.0]}}
    manifest.update("sft", evaluation=evaluation, gates=[{"verdict": "fail"}])
    manifest.update("sft", eval_fingerprint="e" * 64, inputs={"model": {"path": str(run_dir / "cpt/model")}})
    return manifest


def test_a_stored_stage_is_restored_with_its_metrics_and_evaluation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "LINK_MIN_BYTES", 1024)
    store = StageStore(tmp_path / "store")
    source = _finished_stage(tmp_path / "a")
    assert store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", source)
    assert not store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", source)  # held already
    entry = store.entry(FINGERPRINT)
    assert sorted(json.loads((entry / "entry.json").read_text())["files"]) == [
        "log_history.json",
        "model/config.json",
        "model/model.safetensors",
    ]
    target = Manifest(tmp_path / "b", "t")
    assert store.restore("sft", FINGERPRINT, tmp_path / "b" / "sft", target)
    record = target.stage("sft")
    assert record["status"] == "complete" and record["metrics"] == source.stage("sft")["metrics"]
    assert record["evaluation"] == source.stage("sft")["evaluation"]
    assert "gates" not in record  # each run checks the gates of its own recipe
    assert record["eval_fingerprint"] == "e" * 64 and record["output"] == "sft/model"
    assert record["store"] == str(entry) and "inputs" not in record  # the other run's inputs are not copied
    assert (tmp_path / "b" / "eval" / "sft.json").read_text() == (tmp_path / "a" / "eval" / "sft.json").read_text()
    weights = tmp_path / "b" / "sft" / "model" / "model.safetensors"
    assert weights.read_bytes() == (tmp_path / "a" / "sft" / "model" / "model.safetensors").read_bytes()
    assert weights.stat().st_nlink == 3  # one file: run a, the store, run b (hard links, not copies)
    assert (tmp_path / "b" / "sft" / "log_history.json").stat().st_nlink == 1  # small files are copied
    assert not (tmp_path / "b" / "sft" / "checkpoints").exists()


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete", "no-entry-json"])
def test_a_torn_entry_is_never_served(tmp_path: Path, damage: str, capsys) -> None:
    store = StageStore(tmp_path / "store")
    store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", _finished_stage(tmp_path / "a"))
    weights = store.entry(FINGERPRINT) / "stage" / "model" / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "alter":
        weights.write_bytes(b"\0" * weights.stat().st_size)  # same size, other bytes
    elif damage == "delete":
        weights.unlink()
    else:
        (store.entry(FINGERPRINT) / "entry.json").unlink()
    assert store.problem(FINGERPRINT) is not None
    target = Manifest(tmp_path / "b", "t")
    capsys.readouterr()
    assert not store.restore("sft", FINGERPRINT, tmp_path / "b" / "sft", target)
    captured = capsys.readouterr()
    assert "is torn" in captured.err + captured.out
    assert not store.entry(FINGERPRINT).exists() and target.stage("sft") == {}


def test_a_store_write_killed_midway_leaves_no_entry(tmp_path: Path, monkeypatch) -> None:
    store = StageStore(tmp_path / "store")
    manifest = _finished_stage(tmp_path / "a")

    def killed(src: Path, dst: Path) -> str:
        raise KeyboardInterrupt  # as a kill during the copy of the first file

    monkeypatch.setattr(store_module, "_place", killed)
    with pytest.raises(KeyboardInterrupt):
        store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", manifest)
    assert store.problem(FINGERPRINT) == "missing"
    assert not store.restore("sft", FINGERPRINT, tmp_path / "b" / "sft", Manifest(tmp_path / "b", "t"))


def test_only_a_complete_stage_with_that_fingerprint_is_stored(tmp_path: Path) -> None:
    store = StageStore(tmp_path / "store")
    manifest = _finished_stage(tmp_path / "a")
    assert not store.publish("sft", "0" * 64, tmp_path / "a" / "sft", manifest)
    manifest.update("sft", status="running")
    assert not store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", manifest)
    assert not store.root.exists() or not any(store.root.iterdir())


def test_an_entry_without_outcomes_removes_an_earlier_models_outcomes(tmp_path: Path) -> None:
    """The store keeps the report's rule: what a stage shows is what its own evaluation measured."""
    store = StageStore(tmp_path / "store")
    source = _finished_stage(tmp_path / "a")
    (tmp_path / "a" / "eval" / "sft.json").unlink()  # evaluated with no proportion (e.g. QA only)
    source.update("sft", evaluation={})
    assert store.publish("sft", FINGERPRINT, tmp_path / "a" / "sft", source)
    stale = tmp_path / "b" / "eval" / "sft.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"cmexam_acc": {"questions": "old", "correct": "0"}}')  # another model's, left behind
    target = Manifest(tmp_path / "b", "t")
    assert store.restore("sft", FINGERPRINT, tmp_path / "b" / "sft", target)
    assert not stale.exists() and target.stage("sft")["evaluation"] == {}
