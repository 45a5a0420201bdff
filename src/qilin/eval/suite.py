"""The evaluation a recipe asks for, run on the base model and after every stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qilin.config import EvalSettings, ModelSettings
from qilin.eval.cmexam import evaluate_loglikelihood, read_cmexam
from qilin.eval.forgetting import general_metrics
from qilin.eval.qa import evaluate_qa, generate_answers, read_qa
from qilin.eval.subsets import seeded_subset


def evaluate_model(
    model_dir: Path, settings: EvalSettings, model_settings: ModelSettings, data: dict[str, Path]
) -> dict[str, Any]:
    """Metrics of one model directory: CMExam accuracy (log-likelihood mode) and QA BLEU/ROUGE."""
    if not data:
        return {}
    if "vqa" in data:
        return _evaluate_vl(model_dir, settings, model_settings, data["vqa"])
    from qilin.models.loading import load_model, load_tokenizer

    model = load_model(model_dir, model_settings).eval()
    tokenizer = load_tokenizer(model_dir, model_settings)
    metrics: dict[str, Any] = {}
    if "cmexam" in data:
        questions = read_cmexam(data["cmexam"])
        questions = seeded_subset(questions, settings.max_questions)
        tables = evaluate_loglikelihood(model, tokenizer, questions, settings.batch_size)
        acc = tables["acc"]
        metrics["cmexam"] = acc["all"]["accuracy"]
        metrics["cmexam_acc_norm"] = tables["acc_norm"]["all"]["accuracy"]
        for key, label in (
            ("Knowledge=held-out", "cmexam_held_out"),
            ("Knowledge=seen", "cmexam_seen"),
            ("multi", "cmexam_multi"),
        ):
            if key in acc:
                metrics[label] = acc[key]["accuracy"]
        metrics["cmexam_n"] = acc["all"]["n"]
        if "rag" in data:
            from qilin.eval.cmexam import with_retrieved_passages
            from qilin.rag.index import load_index

            augmented = with_retrieved_passages(questions, load_index(data["rag"]), settings.rag_top_k)
            rag_acc = evaluate_loglikelihood(model, tokenizer, augmented, settings.batch_size)["acc"]
            metrics["cmexam_rag"] = rag_acc["all"]["accuracy"]
            if "Knowledge=held-out" in rag_acc:
                metrics["cmexam_rag_held_out"] = rag_acc["Knowledge=held-out"]["accuracy"]
    if "general" in data:  # the forgetting check (eval.general)
        metrics.update(general_metrics(model, tokenizer, data["general"], settings.batch_size))
    if "qa" in data:
        items = read_qa(data["qa"])
        items = seeded_subset(items, settings.max_qa)
        answers = generate_answers(model, tokenizer, items, settings.batch_size, settings.max_new_tokens)
        scores = evaluate_qa(items, answers)
        metrics.update({f"qa_{k}": v for k, v in scores.items() if k != "empty_predictions"})
        metrics["qa_example"] = {"question": items[0].question, "answer": answers[0], "reference": items[0].answer}
    return metrics


def _evaluate_vl(model_dir: Path, settings: EvalSettings, model_settings: ModelSettings, data: Path) -> dict[str, Any]:
    from qilin.eval.vqa import evaluate_vqa, load_questions
    from qilin.models.vision import load_vl_model

    model, tokenizer, processor = load_vl_model(model_dir, model_settings)
    questions = load_questions(data, settings.vqa_images, settings.max_questions)
    result = evaluate_vqa(model, tokenizer, processor, questions, settings.batch_size)
    metrics = {"vqa": result["loglik"]["all"]["accuracy"], "vqa_generate": result["generate"]["all"]["accuracy"]}
    metrics.update(
        {f"vqa_{k.split('=')[1]}": v["accuracy"] for k, v in result["loglik"].items() if k.startswith("Type=")}
    )
    metrics.update(vqa_open_recall=result["open_recall"], vqa_n=result["loglik"]["all"]["n"])
    return metrics
