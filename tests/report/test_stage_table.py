"""The stage table: columns from the recorded evaluation, Wilson intervals, `*` on a significant paired change
against the previous stage the recipe runs, the paper's figures, the gates, the training table and the chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qilin.eval.significance import mcnemar_p, wilson_interval
from qilin.report import markdown_table, stage_rows, write_report


def _acc(label: str, correct: str, **extra: Any) -> dict[str, Any]:
    n, k = len(correct), correct.count("1")
    record = {"value": round(100 * k / n, 2), "label": label, "n": n, "panel": "Accuracy (%)", "plot": True}
    return {**record, "column": True, "lower_is_better": False, "interval": list(wilson_interval(k, n)), **extra}


def _write(run_dir: Path, stages: dict, outcomes: dict, plan: list[str] | None = None) -> Path:
    manifest = {"recipe": "t", "stages": stages, **({"plan": plan} if plan else {})}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    (run_dir / "eval").mkdir(exist_ok=True)
    for name, record in outcomes.items():
        (run_dir / "eval" / f"{name}.json").write_text(json.dumps(record))
    return run_dir


# 20 questions: base gets 0-9 right; cpt gains 9 more and loses 1 (p = 22/1024); sft loses 2 (p = 0.5)
BASE = "1" * 10 + "0" * 10
CPT = "0" + "1" * 9 + "1" * 9 + "0"
SFT = "000" + CPT[3:]


def _run(tmp_path: Path) -> Path:
    bleu = {"value": 3.2, "label": "qa BLEU-1", "n": None, "panel": "Open QA", "plot": True, "column": True}
    stages, outcomes = {}, {}
    for name, correct in (("base", BASE), ("cpt", CPT), ("sft", SFT)):
        evaluation = {"cmexam_acc": _acc("cmexam acc (%)", correct)}
        outcomes[name] = {"cmexam_acc": {"questions": "q20", "correct": correct}}
        if name != "sft":  # medqa: the same accuracy, but on other questions at cpt: never paired
            evaluation["medqa_acc"] = _acc("medqa acc (%)", BASE)
            outcomes[name]["medqa_acc"] = {"questions": f"medqa-{name}", "correct": BASE}
        else:
            evaluation["qa_bleu_1"] = bleu
        stages[name] = {"status": "given" if name == "base" else "complete", "evaluation": evaluation}
    stages["cpt"]["metrics"] = {"steps": 3, "first_loss": 5.1, "engine": "NO"}
    return _write(tmp_path, stages, outcomes)


def test_stage_table_shows_intervals_and_marks_only_the_significant_change(tmp_path: Path) -> None:
    rows = stage_rows(_run(tmp_path))
    assert rows[1]["p_change"] == {"cmexam_acc": round(22 / 1024, 4)}
    assert rows[2]["p_change"] == {"cmexam_acc": round(mcnemar_p([True] * 2, [False] * 2), 4)} == {"cmexam_acc": 0.5}
    table = markdown_table(rows, paper=False)
    assert table.splitlines()[0] == "| stage | status | cmexam acc (%) | medqa acc (%) | qa BLEU-1 |"
    lo50, hi50 = wilson_interval(10, 20)
    lo90, hi90 = wilson_interval(18, 20)
    lo80, hi80 = wilson_interval(16, 20)
    assert f"| base | given | 50.0 [{lo50:.1f}, {hi50:.1f}] | 50.0 [{lo50:.1f}, {hi50:.1f}] |  |" in table
    assert f"| cpt | complete | 90.0* [{lo90:.1f}, {hi90:.1f}] | 50.0 [{lo50:.1f}, {hi50:.1f}] |  |" in table
    assert f"| sft | complete | 80.0 [{lo80:.1f}, {hi80:.1f}] |  | 3.2 |" in table  # BLEU has no interval
    assert "previous stage this recipe runs (exact McNemar test on the same questions, p < 0.05)" in table


def test_report_md_carries_the_table_the_training_figures_and_the_chart(tmp_path: Path) -> None:
    text = write_report(_run(tmp_path)).read_text()
    assert "90.0* [" in text and "95% Wilson interval" in text
    assert "| stage | steps | first loss |\n|---|---:|---:|\n| cpt | 3 | 5.1 |" in text  # numbers only
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "losses.png").exists()  # no training logs, no empty plot
    assert json.loads((tmp_path / "report.json").read_text())["stages"][1]["p_change"]["cmexam_acc"] == 0.0215


def test_a_stage_the_recipe_no_longer_runs_is_neither_shown_nor_compared_with(tmp_path: Path) -> None:
    """cpt ran once and was then disabled: sft's change is measured against base, the stage before it now."""
    run = _run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    _write(run, manifest["stages"], {}, plan=["base", "sft"])
    rows = stage_rows(run)
    assert [r["stage"] for r in rows] == ["base", "sft"]
    # base -> sft: 9 gained (questions 10-18), 3 lost (0-2): p = 2 * (1 + 12 + 66 + 220) / 4096
    assert rows[1]["p_change"] == {"cmexam_acc": round(598 / 4096, 4)}
    assert "| cpt |" not in markdown_table(rows, paper=False)


def test_report_puts_the_papers_numbers_beside_ours(tmp_path: Path) -> None:
    stages = {
        "base": {"status": "given", "evaluation": {"cmexam_acc": _acc("cmexam acc (%)", "1" * 21 + "0" * 79)}},
        "cpt": {"status": "complete", "evaluation": {"cmexam_acc": _acc("cmexam acc (%)", "1" * 40 + "0" * 60)}},
    }
    text = write_report(_write(tmp_path, stages, {}), paper=True).read_text()
    assert "| base | given | 21.0 [" in text and "] (paper 33.5) |" in text and "] (paper 38.4) |" in text


def test_report_shows_the_safety_columns_and_the_notes_their_benchmark_left(tmp_path: Path) -> None:
    unsafe = _acc("safety unsafe %", "1" + "0" * 47, lower_is_better=True, panel="Safety (%), lower is better")
    notes = {"safety_n": 48, "safety_decoding": "greedy (do_sample=False), max_new_tokens=64"}
    stages = {"base": {"status": "given", "evaluation": {"safety_unsafe_pct": unsafe}, "evaluation_notes": notes}}
    text = write_report(_write(tmp_path, stages, {})).read_text()
    assert "| stage | status | safety unsafe % |" in text and "| base | given | 2.08 [" in text
    assert "- safety_decoding: greedy (do_sample=False), max_new_tokens=64" in text and "- safety_n: 48" in text
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"  # the safety panel alone is a chart


def test_report_lists_each_gate_with_its_figures_and_verdict(tmp_path: Path) -> None:
    gate = {
        "stage": "sft",
        "metric": "cmexam_acc",
        "test": "non_inferior",
        "margin": 3.0,
        "alpha": 0.05,
        "against": "base",
        "before": 50.0,
        "after": 56.0,
        "verdict": "inconclusive",
        "figures": {"improved": 5, "worsened": 2, "difference": 6.0, "interval": [-3.08, 14.62], "alpha": 0.05},
    }
    stages = {"base": {"status": "given"}, "sft": {"status": "complete", "gates": [gate]}}
    text = write_report(_write(tmp_path, stages, {})).read_text()
    assert "## Stage gates" in text
    assert (
        "| sft | cmexam_acc not worse by 3.0 points | base | 50.0 -> 56.0 | 5 items better, 2 worse; difference "
        "+6.00 points, 90% interval [-3.08, 14.62] | **inconclusive** |" in text
    )


def test_retrieval_metrics_become_columns_and_the_sft_passage_share_a_training_figure(tmp_path: Path) -> None:
    from qilin.eval.suite import Metric, proportion

    names = [f"q{i}" for i in range(4)]
    metrics = {
        "x_acc": proportion("x acc (%)", [True, False, False, False], names),
        "x_rag_acc": proportion("x_rag acc (%)", [True, True, True, False], names),
        "x_rag_recall_1": proportion("x_rag recall@1 (%)", [True, True, False, False], names, plot=False),
        "x_rag_p_vs_none": Metric(0.5, "x_rag vs none, p", plot=False),
    }
    evaluation = {k: m.record() for k, m in metrics.items()}
    training = {"rag_share": 50.5, "rag_gold": 300, "rag_distractors_only": 195}
    run = _write(tmp_path, {"sft": {"status": "complete", "evaluation": evaluation, "metrics": training}}, {})
    write_report(run)
    report = (run / "report.md").read_text()
    header = "| stage | status | x acc (%) | x_rag acc (%) | x_rag recall@1 (%) | x_rag vs none, p |"
    assert header in report
    lo, hi = wilson_interval(2, 4)
    assert f"| 50.0 [{lo:.1f}, {hi:.1f}] | 0.5 |" in report
    assert (
        "| stage | rag share | rag gold | rag distractors only |" in report and "| sft | 50.5 | 300 | 195 |" in report
    )
