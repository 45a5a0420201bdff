"""The recipe's evaluation hook: `eval.benchmarks` scored at a stage, per-question answers kept for the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.config import ConfigError, Recipe, from_dict
from qilin.pipeline.evaluation import eval_data_hash, evaluate_stage
from qilin.pipeline.manifest import Manifest
from tests.eval.benchmarks.layouts import medmcqa_file, pubmedqa_file


def test_benchmarks_are_scored_and_their_answers_written_beside_the_manifest(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    files = {"medmcqa": medmcqa_file(tmp_path / "dev.json"), "pubmedqa": pubmedqa_file(tmp_path / "ori_pqal.json")}
    recipe = from_dict(Recipe, {"eval": {"benchmarks": {k: str(v) for k, v in files.items()}, "batch_size": 4}})
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    evaluate_stage("base", tiny_model_dir, recipe, run_dir, manifest)
    metrics = manifest.stage("base")["metrics"]
    answers = json.loads((run_dir / "eval" / "base.json").read_text())
    assert set(answers) == {"mcq_medmcqa", "mcq_pubmedqa"}
    for key, n in (("mcq_medmcqa", 3), ("mcq_pubmedqa", 2)):
        correct = answers[key]["correct"]
        assert len(correct) == n == metrics[f"{key}_n"]
        assert metrics[key] == round(100 * correct.count("1") / n, 2)  # the accuracy is these answers'
    assert "per_question" not in metrics


def test_benchmarks_key_must_map_names_to_files() -> None:
    with pytest.raises(ConfigError, match=r"eval\.benchmarks: expected mapping of str to str"):
        from_dict(Recipe, {"eval": {"benchmarks": ["medqa.jsonl"]}})
    with pytest.raises(ConfigError, match=r"eval\.benchmarks\.medqa: expected str"):
        from_dict(Recipe, {"eval": {"benchmarks": {"medqa": 3}}})


def test_a_rag_index_in_another_run_directory_needs_no_new_evaluation(tmp_path: Path) -> None:
    """Passages name their source file (in the run directory); only their texts decide what is retrieved."""

    def index(run: str, texts: list[str]) -> Path:
        path = tmp_path / run / "rag" / "index"
        path.mkdir(parents=True)
        rows = [{"text": t, "source": f"runs/{run}/data/chimed_cpt.jsonl", "doc": i} for i, t in enumerate(texts, 1)]
        (path / "passages.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return path

    demo, variant = (
        index("demo", ["高血压挂心内科。", "糖尿病挂内分泌科。"]),
        index("demo-ablate", ["高血压挂心内科。", "糖尿病挂内分泌科。"]),
    )
    other = index("other", ["高血压挂心内科。", "糖尿病挂消化内科。"])
    assert (demo / "passages.jsonl").read_bytes() != (variant / "passages.jsonl").read_bytes()
    assert eval_data_hash("rag", demo) == eval_data_hash("rag", variant)
    assert eval_data_hash("rag", demo) != eval_data_hash("rag", other)
