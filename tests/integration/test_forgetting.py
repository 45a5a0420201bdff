"""The forgetting check through a recipe: a general base (cached), DCPT with replay, general accuracy per stage."""

import json
from dataclasses import asdict
from pathlib import Path

import yaml

from qilin.config import load_recipe
from qilin.eval.multiple_choice import read_cmexam
from qilin.pipeline.runner import run_recipe
from qilin.report import write_report
from tests.conftest import TINY

KEYS = {"block_size": 32, "finetune": "full", "batch_size": 4, "logging_steps": 1, "learning_rate": 1e-3}


def _recipe(tmp_path: Path, data_files: dict) -> Path:
    recipe = {
        "name": "forgetting",
        "embedded": asdict(TINY),
        "general_pretrain": {"data": ["embedded:general"], "max_steps": 3, **KEYS},
        "stages": {
            "cpt": {
                "data": [str(data_files["cpt"])],
                "replay": 0.25,
                "replay_data": ["embedded:general"],
                "max_steps": 4,
                **KEYS,
            }
        },
        "eval": {
            "benchmarks": [{"benchmark": "mcq", "path": "embedded:general-exam", "name": "general", "loss": True}]
        },
    }
    path = tmp_path / "forgetting.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    return path


def test_general_accuracy_per_stage_replay_and_a_second_run_that_trains_no_base(
    tmp_path: Path, data_files: dict
) -> None:
    recipe = load_recipe(_recipe(tmp_path, data_files))
    stages = run_recipe(recipe, tmp_path / "run").data["stages"]
    base, dcpt = stages["base"]["metrics"], stages["cpt"]["metrics"]
    assert base["steps"] == 3 and base["cached"] is False
    exam = read_cmexam(tmp_path / "run" / "data-general" / "general_exam.csv")
    for name in ("base", "cpt"):
        evaluation, notes = stages[name]["evaluation"], stages[name]["evaluation_notes"]
        assert evaluation["general_acc"]["n"] == len(exam) and 0 <= evaluation["general_acc"]["value"] <= 100
        domains = {k for k in notes["general_groups"] if k.startswith("Domain=")}
        assert domains == {"Domain=地理", "Domain=科学", "Domain=算术"} and evaluation["general_loss"]["value"] > 0
    # DCPT mixed the general text in at the asked share, and logged its loss beside the medical one
    assert abs(dcpt["replay_share"] - 0.25) < 0.05 and set(dcpt["source_loss"]) == {"cpt", "general"}
    inputs = [d["path"] for d in stages["cpt"]["inputs"]["data"]]
    assert inputs[0] == str(data_files["cpt"]) and inputs[1].endswith("general.jsonl")
    text = write_report(tmp_path / "run").read_text()
    assert "general acc" in text.splitlines()[2] and "loss/general" in text.splitlines()[2]
    rows = json.loads((tmp_path / "run" / "report.json").read_text())["stages"]
    losses = [stages[n]["evaluation"]["general_loss"]["value"] for n in ("base", "cpt")]
    assert [r["evaluation"]["general_loss"]["value"] for r in rows] == losses

    # a fresh run directory takes the pre-trained base from the cache: same weights, no training
    again = run_recipe(recipe, tmp_path / "again").data["stages"]
    assert again["base"]["metrics"]["cached"] is True
    assert again["base"]["fingerprint"] == stages["base"]["fingerprint"]
    weights = [
        (d / "base" / "model" / "model.safetensors").read_bytes() for d in (tmp_path / "run", tmp_path / "again")
    ]
    assert weights[0] == weights[1]
    assert again["base"]["evaluation"]["general_acc"] == stages["base"]["evaluation"]["general_acc"]
