"""PMC-VQA evaluation: generations map to the closest choice, open answers score recall, `qilin eval vqa` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.eval.vqa import closest_choice, open_ended_scores
from tests.vl_files import Scans, pmcvqa_csv, scan_set


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 16, seed=5)


def test_generations_map_to_the_closest_choice_and_open_answers_score_recall() -> None:
    choices = {"A": "左侧", "B": "右侧", "C": "双侧", "D": "正中"}
    assert closest_choice("病灶位于右侧。", choices) == "B"
    assert closest_choice("C", choices) == "C"
    recall, f1 = open_ended_scores("右肺上叶结节", "右肺结节")
    assert recall == 1.0 and f1 == pytest.approx(2 * (4 / 6) / (1 + 4 / 6))  # 4 of 4 reference, 4 of 6 reply chars


def test_eval_vqa_from_the_command_line(tiny_vl_dir: Path, scans, tmp_path: Path) -> None:
    from qilin.cli import main

    out, _ = scans
    csv_path = pmcvqa_csv(scans, tmp_path / "test.csv", 6)
    result = tmp_path / "vqa.json"
    assert (
        main(["eval", "vqa", str(tiny_vl_dir), "--data", str(csv_path), "--images", str(out), "--json", str(result)])
        == 0
    )
    tables = json.loads(result.read_text())
    assert tables["loglik"]["all"]["n"] == 6 and tables["loglik"]["Type=modality"]["n"] == 6
    assert 0 <= tables["generate"]["all"]["accuracy"] <= 100
