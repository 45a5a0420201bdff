"""The evaluation a recipe asks for, run on the base model and after every stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qilin.config import EvalSettings, ModelSettings
from qilin.eval.cmexam import ExamQuestion, accuracy_table, loglikelihood_predictions, read_cmexam
from qilin.eval.forgetting import general_metrics
from qilin.eval.qa import evaluate_qa, generate_answers, read_qa
from qilin.eval.subsets import seeded_subset
from qilin.hashing import digest


def evaluate_model(
    model_dir: Path, settings: EvalSettings, model_settings: ModelSettings, data: dict[str, Path]
) -> dict[str, Any]:
    """Metrics of one model directory: CMExam and `mcq_*` benchmark accuracy (log-likelihood mode), QA BLEU/ROUGE.

    `per_question` holds each accuracy's per-question correctness (see `answered`), for the report's paired test.
    """
    if not data:
        return {}
    if "vqa" in data:
        return _evaluate_vl(model_dir, settings, model_settings, data["vqa"])
    from qilin.models.loading import load_model, load_tokenizer

    model = load_model(model_dir, model_settings).eval()
    tokenizer = load_tokenizer(model_dir, model_settings)
    metrics: dict[str, Any] = {}
    per_question: dict[str, dict[str, str]] = {}
    if "cmexam" in data:
        questions = read_cmexam(data["cmexam"])
        questions = seeded_subset(questions, settings.max_questions)
        predictions = loglikelihood_predictions(model, tokenizer, questions, settings.batch_size)
        tables = {name: accuracy_table(questions, preds) for name, preds in predictions.items()}
        per_question["cmexam"] = answered(questions, predictions["acc"])
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
                metrics[f"{label}_n"] = acc[key]["n"]
        metrics["cmexam_n"] = acc["all"]["n"]
        if "rag" in data:
            rag_metrics, rag_answers = _with_retrieval(model, tokenizer, questions, predictions["acc"], settings, data)
            metrics.update(rag_metrics)
            per_question.update(rag_answers)
    if "index_only" in data:  # facts only the index holds: near chance without it (qilin.datasets.index_only)
        questions = read_cmexam(data["index_only"])
        predictions = loglikelihood_predictions(model, tokenizer, questions, settings.batch_size)["acc"]
        metrics.update(
            index_only=accuracy_table(questions, predictions)["all"]["accuracy"], index_only_n=len(questions)
        )
        per_question["index_only"] = answered(questions, predictions)
        if "rag" in data:
            rag_metrics, rag_answers = _with_retrieval(
                model, tokenizer, questions, predictions, settings, data, "index_only"
            )
            metrics.update(rag_metrics)
            per_question.update(rag_answers)
    for key in sorted(k for k in data if k.startswith("mcq_")):
        from qilin.eval.benchmarks import read_benchmark

        questions = seeded_subset(read_benchmark(data[key])[1], settings.max_questions)
        predictions = loglikelihood_predictions(model, tokenizer, questions, settings.batch_size)["acc"]
        table = accuracy_table(questions, predictions)
        metrics.update({key: table["all"]["accuracy"], f"{key}_n": table["all"]["n"]})
        per_question[key] = answered(questions, predictions)
    if "general" in data:  # the forgetting check (eval.general)
        questions = read_cmexam(data["general"])
        predictions = loglikelihood_predictions(model, tokenizer, questions, settings.batch_size)
        metrics.update(general_metrics(model, tokenizer, questions, predictions, settings.batch_size))
        per_question["general_acc"] = answered(questions, predictions["acc"])
    if "qa" in data:
        items = read_qa(data["qa"])
        items = seeded_subset(items, settings.max_qa)
        answers = generate_answers(model, tokenizer, items, settings.batch_size, settings.max_new_tokens)
        scores = evaluate_qa(items, answers)
        metrics.update({f"qa_{k}": v for k, v in scores.items() if k != "empty_predictions"})
        metrics["qa_example"] = {"question": items[0].question, "answer": answers[0], "reference": items[0].answer}
    if "safety" in data:
        from qilin.eval.safety import evaluate_safety, read_safety_prompts

        prompts = seeded_subset(read_safety_prompts(data["safety"]), settings.max_safety)
        metrics.update(evaluate_safety(model, tokenizer, prompts, settings.batch_size, settings.max_new_tokens))
    return {**metrics, "per_question": per_question} if per_question else metrics


def _with_retrieval(
    model: Any,
    tokenizer: Any,
    questions: list[ExamQuestion],
    without: list[frozenset[str]],
    settings: EvalSettings,
    data: dict[str, Path],
    name: str = "cmexam",
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The exam scored again with retrieved passages (eval.rag), and recall@k of the dense index if there is one."""
    from qilin.eval.retrieval import recall_metrics, score_with_retrieval
    from qilin.rag.index import load_index

    metrics, augmented, predictions = score_with_retrieval(
        model, tokenizer, questions, without, load_index(data["rag"]), settings.rag_top_k, settings.batch_size, name
    )
    if "rag_dense" in data:
        metrics.update(recall_metrics(questions, load_index(data["rag_dense"]), settings.rag_top_k, name))
    return metrics, {f"{name}_rag": answered(augmented, predictions)}


def answered(questions: list[ExamQuestion], predictions: list[frozenset[str]]) -> dict[str, str]:
    """Which questions a model got right ("1"/"0" in question order) and a digest naming those questions,
    so that two stages' answers are paired only when they answered the same questions."""
    names = [[q.question, q.options, sorted(q.answer)] for q in questions]
    correct = "".join("1" if p == q.answer else "0" for q, p in zip(questions, predictions, strict=True))
    return {"questions": digest(names), "correct": correct}


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
    metrics.update({f"vqa_{k.split('=')[1]}_n": v["n"] for k, v in result["loglik"].items() if k.startswith("Type=")})
    metrics.update(vqa_open_recall=result["open_recall"], vqa_n=result["loglik"]["all"]["n"])
    return metrics
