"""The stage table's error bars: Wilson intervals on every accuracy, `*` on a significant paired change."""

from __future__ import annotations

import json
from pathlib import Path

from qilin.eval.significance import mcnemar_p, wilson_interval
from qilin.report import markdown_table, stage_rows, write_report


def _run(tmp_path: Path) -> Path:
    # 20 questions: base gets 0-9 right; cpt gains 9 more and loses 1 (p = 22/1024); sft loses 2 (p = 0.5)
    base = "1" * 10 + "0" * 10
    cpt = "0" + "1" * 9 + "1" * 9 + "0"
    sft = "000" + cpt[3:]
    stages = {
        "base": {"status": "given", "metrics": {"cmexam": 50.0, "cmexam_n": 20, "mcq_medqa": 50.0, "mcq_medqa_n": 20}},
        "cpt": {
            "status": "complete",
            "metrics": {"cmexam": 90.0, "cmexam_n": 20, "mcq_medqa": 50.0, "mcq_medqa_n": 20},
        },
        "sft": {"status": "complete", "metrics": {"cmexam": 80.0, "cmexam_n": 20, "qa_bleu_1": 3.2}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": stages}))
    for name, correct in (("base", base), ("cpt", cpt), ("sft", sft)):
        record = {"cmexam": {"questions": "q20", "correct": correct}}
        if name != "sft":  # medqa: the same accuracy, but on other questions at cpt: never paired
            record["mcq_medqa"] = {"questions": f"medqa-{name}", "correct": base}
        (tmp_path / "eval").mkdir(exist_ok=True)
        (tmp_path / "eval" / f"{name}.json").write_text(json.dumps(record))
    return tmp_path


def test_stage_table_shows_intervals_and_marks_only_the_significant_change(tmp_path: Path) -> None:
    rows = stage_rows(_run(tmp_path))
    assert rows[1]["p_change"] == {"cmexam": round(22 / 1024, 4)}
    assert rows[2]["p_change"] == {"cmexam": round(mcnemar_p([True] * 2, [False] * 2), 4)} == {"cmexam": 0.5}
    table = markdown_table(rows, paper=False)
    assert table.splitlines()[0] == "| stage | status | CMExam acc (%) | medqa acc (%) | BLEU-1 |"
    lo50, hi50 = wilson_interval(10, 20)
    lo90, hi90 = wilson_interval(18, 20)
    lo80, hi80 = wilson_interval(16, 20)
    assert f"| base | given | 50.0 [{lo50:.1f}, {hi50:.1f}] | 50.0 [{lo50:.1f}, {hi50:.1f}] |  |" in table
    assert f"| cpt | complete | 90.0* [{lo90:.1f}, {hi90:.1f}] | 50.0 [{lo50:.1f}, {hi50:.1f}] |  |" in table
    assert f"| sft | complete | 80.0 [{lo80:.1f}, {hi80:.1f}] |  | 3.2 |" in table  # BLEU has no interval
    assert "exact McNemar test on the same questions, p < 0.05" in table


def test_report_md_carries_the_table_with_its_footnote_and_the_chart(tmp_path: Path) -> None:
    text = write_report(_run(tmp_path)).read_text()
    assert "90.0* [" in text and "95% Wilson interval" in text
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "report.json").read_text())["stages"][1]["p_change"]["cmexam"] == 0.0215
