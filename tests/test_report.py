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
