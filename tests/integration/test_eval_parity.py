"""The evaluation's figures did not move when every benchmark became one registered object: the tiny model's
scores under the new `eval.benchmarks` entries equal those the earlier hard-wired suite recorded for the same model
and data (recorded on 2026-12-06 with `eval.cmexam`, `eval.rag`, `eval.benchmarks`, `eval.general`, `eval.qa` and
`eval.safety`; old key -> new key below), down to each question's outcome."""

from __future__ import annotations

import json
from pathlib import Path

from qilin.config import Recipe, from_dict
from qilin.pipeline.evaluation import evaluate_stage
from qilin.pipeline.manifest import Manifest, outcomes_path
from tests.eval.benchmarks.layouts import cmb_file, pubmedqa_file

# old metric key: (new metric key, figure the earlier suite recorded)
RECORDED = {
    "cmexam": ("cmexam_acc", 22.5),
    "cmexam_acc_norm": ("cmexam_acc_norm", 12.5),
    "cmexam_held_out": ("cmexam_held_out", 0.0),
    "cmexam_seen": ("cmexam_seen", 26.47),
    "cmexam_multi": ("cmexam_multi", 0.0),
    "cmexam_rag": ("cmexam_rag_acc", 22.5),
    "cmexam_rag_held_out": ("cmexam_rag_held_out", 0.0),
    "mcq_cmb": ("cmb_acc", 0.0),
    "mcq_pubmedqa": ("pubmedqa_acc", 0.0),
    "general_acc": ("general_acc", 18.61),
    "general_acc_norm": ("general_acc_norm", 20.35),
    "general_loss": ("general_loss", 6.2132),
    "unsafe_pct": ("safety_unsafe_pct", 0.0),
    "over_refusal_pct": ("safety_over_refusal_pct", 0.0),
    "safety_non_answer_pct": ("safety_non_answer_pct", 100.0),
    **{f"qa_{k}": (f"qa_{k}", 0.0) for k in ("bleu_1", "bleu_2", "bleu_4", "rouge_1", "rouge_2", "rouge_l")},
}
RECORDED_N = {"cmexam_acc": 40, "cmexam_held_out": 6, "cmexam_seen": 34, "cmexam_multi": 4, "general_acc": 231}
RECORDED_OUTCOMES = {
    "cmexam_acc": "0000000001100000001101000100011000000010",
    "cmexam_rag_acc": "0000000001100000001101000100011000000010",
    "cmb_acc": "000",
    "pubmedqa_acc": "00",
    "general_acc": (
        "0100000010000100010010110100000000000101100000000110000000110000000000000000100000000011000000000010000000000"
        "100000100011100000000000101001000001001000100000000011000000000000000000011000001000000010000000101010000000"
        "00110011000000"
    ),
}


def test_the_new_entries_score_the_same_as_the_earlier_suite(tiny_model_dir: Path, tmp_path: Path) -> None:
    files = {"cmb": cmb_file(tmp_path / "cmb.json"), "pubmedqa": pubmedqa_file(tmp_path / "ori_pqal.json")}
    benchmarks = [
        {"benchmark": "mcq", "path": "embedded:cmexam", "limit": 40, "detail": True},
        {"benchmark": "mcq", "path": "embedded:cmexam", "limit": 40, "rag": True},
        *({"benchmark": "mcq", "path": str(f)} for f in files.values()),
        {"benchmark": "mcq", "path": "embedded:general-exam", "name": "general", "loss": True},
        {"benchmark": "qa", "path": "embedded:huatuo", "limit": 6},
        {"benchmark": "safety", "path": "embedded", "limit": 6},
    ]
    settings = {"benchmarks": benchmarks, "rag": ["embedded:cpt"], "max_new_tokens": 16, "batch_size": 16}
    recipe = from_dict(Recipe, {"eval": settings})
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    evaluate_stage("base", tiny_model_dir, recipe, run_dir, manifest)
    evaluation = manifest.stage("base")["evaluation"]
    assert {new: evaluation[new]["value"] for new, _ in RECORDED.values()} == dict(RECORDED.values())
    assert {k: evaluation[k]["n"] for k in RECORDED_N} == RECORDED_N
    outcomes = json.loads(outcomes_path(run_dir, "base").read_text())
    assert {k: outcomes[k]["correct"] for k in RECORDED_OUTCOMES} == RECORDED_OUTCOMES
    notes = manifest.stage("base")["evaluation_notes"]
    by_domain = {k.split("=")[1]: v["accuracy"] for k, v in notes["general_groups"].items() if k.startswith("Domain=")}
    assert by_domain == {"地理": 20.0, "科学": 16.67, "算术": 18.52}  # the earlier general_by_domain
