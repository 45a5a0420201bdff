"""The evaluation a recipe asks for, run on the base model and after every stage."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from qilin.config import EvalSettings, ModelSettings
from qilin.eval.cmexam import evaluate_loglikelihood, read_cmexam


def evaluate_model(
    model_dir: Path, settings: EvalSettings, model_settings: ModelSettings, data: dict[str, Path]
) -> dict[str, Any]:
    """Metrics of one model directory: CMExam accuracy (log-likelihood mode), overall and by subgroup."""
    if "cmexam" not in data:
        return {}
    from qilin.models.loading import load_model, load_tokenizer

    questions = read_cmexam(data["cmexam"])
    if 0 < settings.max_questions < len(questions):
        questions = random.Random(0).sample(questions, settings.max_questions)
    model = load_model(model_dir, model_settings)
    tokenizer = load_tokenizer(model_dir, model_settings)
    tables = evaluate_loglikelihood(model, tokenizer, questions, settings.batch_size)
    acc = tables["acc"]
    metrics = {"cmexam": acc["all"]["accuracy"], "cmexam_acc_norm": tables["acc_norm"]["all"]["accuracy"]}
    for key, label in (
        ("Knowledge=held-out", "cmexam_held_out"),
        ("Knowledge=seen", "cmexam_seen"),
        ("multi", "cmexam_multi"),
    ):
        if key in acc:
            metrics[label] = acc[key]["accuracy"]
    metrics["cmexam_n"] = acc["all"]["n"]
    return metrics
