"""`qilin eval cmexam | mcq | qa | vqa | safety`: score a model, or predictions made elsewhere, on a benchmark."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from qilin.cli.serve import add_endpoint_arguments, endpoint_generator
from qilin.config import ConfigError
from qilin.log import get_logger
from qilin.rag.index import open_retriever

log = get_logger(__name__)


def _load_for_eval(args: argparse.Namespace) -> tuple:
    from qilin.config import ModelSettings
    from qilin.models.loading import load_model, load_tokenizer

    if getattr(args, "endpoint", None):  # a model behind an OpenAI-compatible endpoint: generation only
        return endpoint_generator(args), None
    if not args.model:
        raise FileNotFoundError("give a MODEL directory, or --predictions to score predictions made elsewhere")
    settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
    return load_model(args.model, settings).eval(), load_tokenizer(args.model, settings)


def _show_tables(tables: dict, out_json: str | None) -> None:
    from qilin.eval.significance import interval_of_accuracy

    for metric, table in tables.items():
        if not isinstance(table, dict):
            log.info(f"{metric}: {table}")
            continue
        log.info(f"{metric}:  accuracy [95% Wilson interval]")
        for group, row in table.items():
            row["ci95"] = list(interval_of_accuracy(row["accuracy"], row["n"]))
            low, high = row["ci95"]
            log.info(f"  {group:<32} {row['accuracy']:6.2f} [{low:5.1f}, {high:5.1f}]  (n={row['n']})")
    if out_json:
        Path(out_json).write_text(json.dumps(tables, ensure_ascii=False, indent=1))


def cmd_eval_cmexam(args: argparse.Namespace) -> int:
    from qilin.eval import cmexam

    questions = cmexam.read_cmexam(args.data)
    if args.export_lm_eval:
        from qilin.eval.lm_eval_task import export_task

        out = export_task(args.data, args.export_lm_eval)
        log.info(
            f"wrote {out}; run: lm_eval --model hf --model_args pretrained=MODEL "
            f"--include_path {out} --tasks qilin_cmexam"
        )
        return 0
    return _score_exam(args, questions, lambda: cmexam.read_cmexam(args.dev))


def _score_exam(args: argparse.Namespace, questions: list, read_dev: Callable[[], list]) -> int:
    """Score exam questions from --predictions, or a model in --mode loglik or generate (shots from --dev)."""
    from qilin.eval import cmexam
    from qilin.eval.qa import read_predictions

    if args.predictions:
        replies = read_predictions(args.predictions, [q.id for q in questions])
        _show_tables(cmexam.evaluate_generations(questions, replies), args.json)
        return 0
    if getattr(args, "rag", None):
        questions = cmexam.with_retrieved_passages(questions, open_retriever(args.rag), args.rag_top_k)
    model, tokenizer = _load_for_eval(args)
    if args.mode == "loglik":
        _show_tables(cmexam.evaluate_loglikelihood(model, tokenizer, questions, args.batch_size), args.json)
        return 0
    if args.shots and not args.dev:
        raise ConfigError("--shots needs --dev FILE to draw the solved examples from")
    shots = read_dev()[: args.shots] if args.shots else []
    if args.shots and len(shots) < args.shots:
        from qilin.data.records import DataError

        raise DataError(args.dev, "", f"holds {len(shots)} questions, fewer than --shots {args.shots}")
    replies = cmexam.generate_exam_replies(model, tokenizer, questions, shots, args.batch_size)
    _show_tables(cmexam.evaluate_generations(questions, replies), args.json)
    return 0


def cmd_eval_mcq(args: argparse.Namespace) -> int:
    from qilin.eval.benchmarks import read_benchmark

    fmt, questions = read_benchmark(args.data, args.format, args.fields, args.answers)
    if args.export_lm_eval:
        from qilin.eval.lm_eval_task import export_questions_task

        out = export_questions_task(questions, args.export_lm_eval, f"qilin_{fmt}")
        log.info(
            f"wrote {out}; run: lm_eval --model hf --model_args pretrained=MODEL "
            f"--include_path {out} --tasks qilin_{fmt}"
        )
        return 0
    return _score_exam(args, questions, lambda: read_benchmark(args.dev, fmt, args.fields)[1])


def cmd_eval_qa(args: argparse.Namespace) -> int:
    from qilin.eval.qa import evaluate_qa, generate_answers, read_predictions, read_qa

    items = read_qa(args.data)
    if args.predictions:
        predictions = read_predictions(args.predictions, [item.id for item in items])
    else:
        model, tokenizer = _load_for_eval(args)
        predictions = generate_answers(model, tokenizer, items, args.batch_size, args.max_new_tokens)
        if args.save_predictions:
            rows = [{"id": item.id, "prediction": p} for item, p in zip(items, predictions, strict=True)]
            Path(args.save_predictions).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    scores = evaluate_qa(items, predictions)
    for name, value in scores.items():
        log.info(f"{name:<18} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=1))
    return 0


def cmd_eval_vqa(args: argparse.Namespace) -> int:
    from qilin.eval.vqa import evaluate_vqa, load_questions
    from qilin.models.vision import load_vl_model

    questions = load_questions(args.data, args.images, args.max_questions)
    model, tokenizer, processor = load_vl_model(args.model)
    result = evaluate_vqa(model, tokenizer, processor, questions, args.batch_size)
    _show_tables(result, args.json)
    return 0


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add `eval` with cmexam, mcq, qa, vqa and safety."""
    evaluate = verbs.add_parser("eval", help="evaluate a model", description="Evaluate a model on a benchmark.")
    eval_verbs = evaluate.add_subparsers(dest="eval_verb", required=True, metavar="BENCHMARK")
    cmexam = eval_verbs.add_parser(
        "cmexam",
        help="CMExam-format multiple choice",
        description="Multiple-choice accuracy, overall, single/multi-answer (exact set match) and per "
        "annotation column. --mode loglik scores each option's text as a continuation of the question "
        "(lm-evaluation-harness style: acc and acc_norm), for base and DCPT models; --mode generate asks for "
        "the letters (zero- or few-shot from --dev) and extracts them from the reply; --predictions scores "
        "raw replies produced elsewhere (JSONL with 'prediction', matched by 'id' or by line).",
    )
    cmexam.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    cmexam.add_argument("--data", required=True, help="CMExam CSV (Question, Options, Answer, ...)")
    cmexam.add_argument(
        "--mode", choices=("loglik", "generate"), default="loglik", help="how to score (default loglik)"
    )
    cmexam.add_argument("--shots", type=int, default=0, help="solved dev examples in the prompt (generate mode)")
    cmexam.add_argument("--dev", help="CMExam CSV the few-shot examples come from")
    cmexam.add_argument("--predictions", help="JSONL of replies made elsewhere, scored without a model")
    cmexam.add_argument(
        "--export-lm-eval", metavar="DIR", help="write an lm-evaluation-harness task for --data and exit"
    )
    cmexam.add_argument("--rag", metavar="INDEX", help="put the top passages of this index (qilin rag index) first")
    cmexam.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag")
    cmexam.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass")
    cmexam.add_argument("--json", help="also write the tables to this JSON file")
    cmexam.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    cmexam.set_defaults(func=cmd_eval_cmexam)
    add_endpoint_arguments(cmexam)
    _add_mcq_parser(eval_verbs)

    qa = eval_verbs.add_parser(
        "qa",
        help="Huatuo-26M-style open QA: BLEU and ROUGE",
        description="Generate an answer to each question (batched, greedy) or read --predictions, then print "
        "BLEU-1/2/4 (corpus BLEU on jieba words, no smoothing) and ROUGE-1/2/L F1 on characters as the "
        "Qilin-Med/CMExam code defines them (unique n-grams), plus count-based ROUGE (rouge_*_count).",
    )
    qa.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    qa.add_argument("--data", required=True, help="JSONL with questions/answers (or question/answer)")
    qa.add_argument("--predictions", help="JSONL with 'prediction' per line (and 'id' to match by id)")
    qa.add_argument("--save-predictions", help="write the generated answers here")
    qa.add_argument("--batch-size", type=int, default=16, help="questions per generation batch")
    qa.add_argument("--max-new-tokens", type=int, default=256, help="longest answer in tokens")
    qa.add_argument("--json", help="also write the scores to this JSON file")
    qa.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    qa.set_defaults(func=cmd_eval_qa)
    add_endpoint_arguments(qa)

    vqa = eval_verbs.add_parser(
        "vqa",
        help="PMC-VQA multiple choice for a vision-language model",
        description="4-choice accuracy by option log-likelihood and by generation (the reply mapped to the most "
        "similar choice, as PMC-VQA's own evaluation does), overall and per Type column, and open-ended token "
        "recall/F1 of the reply against the correct choice's text (LLaVA-Med's VQA-RAD/SLAKE metric).",
    )
    vqa.add_argument("model", help="a Qilin-Med-VL model directory, e.g. runs/demo-vl/vl_instruct/model")
    vqa.add_argument("--data", required=True, help="PMC-VQA CSV (Figure_path, Question, Choice A-D, Answer_label)")
    vqa.add_argument("--images", help="folder Figure_path is relative to (default: the CSV's folder)")
    vqa.add_argument("--max-questions", type=int, default=0, help="a fixed random subset of this size (0: all)")
    vqa.add_argument("--batch-size", type=int, default=16, help="questions per forward pass")
    vqa.add_argument("--json", help="also write the tables to this JSON file")
    vqa.set_defaults(func=cmd_eval_vqa)

    from qilin.cli.eval_safety import add_safety_parser

    add_safety_parser(eval_verbs)
    from qilin.cli.serve import add_parity_parser

    add_parity_parser(eval_verbs)


def _add_mcq_parser(eval_verbs: argparse._SubParsersAction) -> None:
    from qilin.eval.benchmarks import FORMATS

    mcq = eval_verbs.add_parser(
        "mcq",
        help="medical multiple choice in its published layout: CMB, MedQA, CMMLU, MedMCQA, PubMedQA, ...",
        description="Score a multiple-choice benchmark file in its published layout, detected from the file "
        "type and fields (or --format), through the same scorer as `eval cmexam`: --mode loglik (acc and "
        "acc_norm), --mode generate (answer extracted from the reply), --predictions (replies made elsewhere). "
        "Multi-answer questions (several answer letters, or marked multiple-choice as CMB's 多项选择题) are "
        "scored by log-likelihood as `eval cmexam` does: every option scoring above its question's mean is "
        "predicted, and only the exact set counts. Accuracy is shown overall, single/multi and per group field "
        "of the file, each with its 95% Wilson interval.\n\nformats:\n"
        + "\n".join(f"  {name:<12} {text}" for name, text in FORMATS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcq.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    mcq.add_argument("--data", required=True, help="benchmark file (a folder of CMMLU subject CSVs also works)")
    mcq.add_argument("--format", choices=("auto", *FORMATS), default="auto", help="layout (default: detect)")
    mcq.add_argument("--fields", help="generic layout: question=F,options=F,answer=F,groups=F1+F2,id=F")
    mcq.add_argument("--answers", help="answers published apart, joined by id (CMB-test-choice-answer.json)")
    mcq.add_argument("--mode", choices=("loglik", "generate"), default="loglik", help="how to score (default loglik)")
    mcq.add_argument("--shots", type=int, default=0, help="solved dev examples in the prompt (generate mode)")
    mcq.add_argument("--dev", help="file of the same layout the few-shot examples come from")
    mcq.add_argument("--predictions", help="JSONL of replies made elsewhere ('prediction', and 'id' or line order)")
    mcq.add_argument("--export-lm-eval", metavar="DIR", help="write an lm-evaluation-harness task for --data and exit")
    mcq.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass")
    mcq.add_argument("--json", help="also write the tables to this JSON file")
    mcq.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    mcq.set_defaults(func=cmd_eval_mcq)
    add_endpoint_arguments(mcq)
