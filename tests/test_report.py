"""The run report: the paper's figures beside ours, and the chart."""

from __future__ import annotations

import json
from pathlib import Path


def test_report_puts_the_papers_numbers_beside_ours_and_draws_the_chart(tmp_path: Path) -> None:
    from qilin.report import write_report

    stages = {
        "base": {"status": "given", "metrics": {"cmexam": 21.0}},
        "cpt": {"status": "complete", "metrics": {"cmexam": 40.5, "steps": 3}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": stages}))
    text = write_report(tmp_path, paper=True).read_text()
    assert "| stage | status | CMExam acc (%) | steps |" in text
    assert "| base | given | 21.0 (paper 33.5) |  |" in text and "| cpt | complete | 40.5 (paper 38.4) | 3 |" in text
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "losses.png").exists()  # no training logs, no empty plot


def test_report_shows_the_safety_columns_and_the_decoding_they_used(tmp_path: Path) -> None:
    from qilin.report import write_report

    safety = {"safety_n": 48, "safety_decoding": "greedy (do_sample=False), max_new_tokens=64"}
    stages = {
        "base": {"status": "given", "metrics": {"unsafe_pct": 2.08, "over_refusal_pct": 0.0, **safety}},
        "sft": {"status": "complete", "metrics": {"unsafe_pct": 0.0, "over_refusal_pct": 12.5, **safety}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": stages}))
    text = write_report(tmp_path).read_text()
    assert "| stage | status | unsafe % | over-refusal % |" in text
    assert "| base | given | 2.08 | 0.0 |" in text and "| sft | complete | 0.0 | 12.5 |" in text
    assert "Safety: 48 prompts per model" in text and "decoding: greedy (do_sample=False), max_new_tokens=64" in text
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"  # the safety panel alone is a chart


def test_report_has_the_retrieval_columns_and_a_recall_table() -> None:
    from qilin.report import columns, markdown_table, retrieval_lines

    rows = [
        {
            "stage": "base",
            "status": "complete",
            "cmexam": 25.0,
            "cmexam_n": 200,
            "cmexam_rag": 24.5,
            "cmexam_rag_p": 1.0,
            "cmexam_recall_bm25_1": 77.0,
            "cmexam_recall_bm25_3": 86.5,
            "index_only": 20.0,
            "index_only_n": 132,
            "index_only_rag": 50.0,
            "index_only_recall_bm25_3": 73.48,
        },
        {
            "stage": "sft",
            "status": "complete",
            "rag_share": 49.8,
            "rag_gold": 290,
            "rag_distractors_only": 198,
            "rag_evaluation_passages_dropped": 0,
        },
    ]
    assert list(columns(rows).values())[:5] == [
        "CMExam acc (%)",
        "CMExam + RAG (%)",
        "RAG vs none, p",
        "index-only (%)",
        "index-only + RAG (%)",
    ]
    assert "| 50.0 [41.6, 58.4] |" in markdown_table(rows, paper=False)  # the slice's own question count
    lines = retrieval_lines(rows)
    assert "| cmexam | bm25 | 1 | 77.0 |" in lines and "| index_only | bm25 | 3 | 73.48 |" in lines
    assert lines[-2].startswith("Retrieval-aware SFT: 49.8% of SFT prompts had passages in front (290 with")
    assert retrieval_lines([{"stage": "base", "cmexam": 25.0}]) == []
