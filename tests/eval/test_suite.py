"""The evaluation a recipe runs after each stage: a VL model's VQA metrics, loaded through the shared VL loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.config import EvalSettings, ModelSettings
from qilin.eval.suite import evaluate_model
from qilin.eval.vqa import evaluate_vqa, load_questions
from qilin.models.vision import load_vl_model
from tests.vl_files import Scans, pmcvqa_csv, scan_set


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 8, seed=11)


def test_a_vl_model_gets_the_vqa_metrics_of_its_capped_question_subset(
    tiny_vl_dir: Path, scans, tmp_path: Path
) -> None:
    out, _ = scans
    data = pmcvqa_csv(scans, tmp_path / "test.csv", 8)
    settings = EvalSettings(vqa=str(data), vqa_images=str(out), max_questions=5, batch_size=4)
    metrics = evaluate_model(tiny_vl_dir, settings, ModelSettings(), {"vqa": data})
    # the same figures as evaluating the same 5 questions by hand
    model, tokenizer, processor = load_vl_model(tiny_vl_dir)
    result = evaluate_vqa(model, tokenizer, processor, load_questions(data, out, 5), batch_size=4)
    assert metrics == {
        "vqa": result["loglik"]["all"]["accuracy"],
        "vqa_generate": result["generate"]["all"]["accuracy"],
        "vqa_modality": result["loglik"]["Type=modality"]["accuracy"],
        "vqa_modality_n": result["loglik"]["Type=modality"]["n"],
        "vqa_open_recall": result["open_recall"],
        "vqa_n": 5,
    }
