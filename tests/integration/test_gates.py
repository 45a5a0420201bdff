"""A benchmark of the user's own, registered in this file, shows its column in report.md; a stage gate on it fails,
`--gates strict` stops the run before the next stage, and a rerun with the default continues from there."""

from __future__ import annotations

import json
from pathlib import Path

from qilin.cli.main import main
from qilin.config import load_recipe
from qilin.eval.suite import Benchmark, BenchmarkResult, Subject, Task, proportion, register
from qilin.pipeline.runner import run_recipe
from tests.integration.test_pipeline import write_recipe


def score_vocabulary(task: Task, subject: Subject) -> BenchmarkResult:
    """The share of the file's words the tokenizer encodes in at most two tokens."""
    words = task.path.read_text(encoding="utf-8").split()
    known = [len(subject.tokenizer(w, add_special_tokens=False)["input_ids"]) <= 2 for w in words]
    return BenchmarkResult({task.key("known"): proportion(f"{task.name} known (%)", known, words)})


VOCABULARY = register(Benchmark("vocabulary", score=score_vocabulary, default_name="vocabulary"))


def test_a_users_benchmark_and_a_strict_gate(tmp_path: Path, data_files: dict, tiny_model_dir: Path, capsys) -> None:
    words = tmp_path / "words.txt"
    words.write_text("高血压 糖尿病 哮喘 心内科 氨氯地平 二甲双胍 量子色动力学 ok\n", encoding="utf-8")
    recipe_file = write_recipe(tmp_path, data_files)
    overrides = [
        f"model.path={tiny_model_dir}",
        "stages.dpo=",
        "stages.cpt.max_steps=2",
        "stages.sft.max_steps=2",
        f"eval.benchmarks=[{{benchmark: vocabulary, path: {words}}}]",
        "eval.gates=[{stage: cpt, metric: vocabulary_known, test: gain}]",  # training leaves the tokenizer as is
    ]
    run_dir = tmp_path / "run"
    code = main(["run", str(recipe_file), "--output", str(run_dir), "--gates", "strict", *overrides])
    assert code == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["cpt"]["status"] == "complete" and "sft" not in manifest["stages"]  # stopped before
    assert manifest["plan"] == ["base", "cpt", "sft"]  # the stages this recipe runs (dpo disabled)
    (gate,) = manifest["stages"]["cpt"]["gates"]
    assert gate["verdict"] == "fail" and gate["figures"]["improved"] == gate["figures"]["worsened"] == 0
    text = (run_dir / "report.md").read_text()
    value = manifest["stages"]["base"]["evaluation"]["vocabulary_known"]["value"]
    assert "| stage | status | vocabulary known (%) |" in text and f"| base | given | {value} [" in text
    assert "| cpt | gain on vocabulary_known | base |" in text and "**fail** |" in text

    capsys.readouterr()
    run_recipe(load_recipe(recipe_file, overrides), run_dir)  # gates: report (the default) continues
    assert "[cpt] complete with unchanged inputs: skipped" in capsys.readouterr().out
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert stages["sft"]["status"] == "complete" and stages["cpt"]["gates"][0]["verdict"] == "fail"
    assert "| sft | complete |" in (run_dir / "report.md").read_text()
