"""`qilin eval mcq | qa | vqa | safety`: score a model, or predictions made elsewhere, on a benchmark file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from qilin.cli import eval_safety
from qilin.config import ConfigError, ModelSettings
from qilin.data.records import DataError
from qilin.durable import write_atomic
from qilin.eval.benchmarks import FORMATS, read_benchmark
from qilin.eval.significance import interval_of_accuracy
from qilin.log import get_logger

if TYPE_CHECKING:
    from qilin.eval.suite import Subject

log = get_logger(__name__)


def _subject(args: argparse.Namespace, needs: str = "model") -> Subject:
    from qilin.eval.suite import Subject, load_subject

    endpoint = eval_safety.open_endpoint(args)
    if endpoint is not None:
        if getattr(args, "mode", "generate") != "loglik":
            return Subject(endpoint, None)
        if not args.model:
            raise ConfigError(
                "--endpoint with --mode loglik needs MODEL, the local directory of the served model: its tokenizer "
                "makes the token ids whose log-probs the endpoint returns (or score by generation: --mode generate)"
            )
        from qilin.models.loading import load_tokenizer

        settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
        return Subject(endpoint, load_tokenizer(args.model, settings))
    if not args.model:
        elsewhere = ", or --predictions (made elsewhere)" if hasattr(args, "predictions") else ""
        raise FileNotFoundError(f"give a MODEL directory or --endpoint URL{elsewhere}")
    settings = ModelSettings(path=args.model, trust_remote_code=getattr(args, "trust_remote_code", False))
    return load_subject(Path(args.model), needs, settings)


def _show_tables(tables: dict, out_json: str | None) -> None:
    for metric, table in tables.items():
        if not isinstance(table, dict) or not all(isinstance(r, dict) and "n" in r for r in table.values()):
            log.info(f"{metric}: {table}")
            continue
        log.info(f"{metric}:  accuracy [95% Wilson interval]")
        for group, row in table.items():
            row["ci95"] = list(interval_of_accuracy(row["accuracy"], row["n"]))
            low, high = row["ci95"]
            log.info(f"  {group:<32} {row['accuracy']:6.2f} [{low:5.1f}, {high:5.1f}]  (n={row['n']})")
    if out_json:
        write_atomic(Path(out_json), json.dumps(tables, ensure_ascii=False, indent=1))


def run_mcq(args: argparse.Namespace) -> int:
    """`qilin eval mcq`: one multiple-choice file in any layout, by log-likelihood, generation or predictions."""
    from qilin.eval.multiple_choice import score_exam
    from qilin.eval.qa import read_predictions
    from qilin.models.endpoint import NoPromptLogprobs
    from qilin.rag.index import open_retriever

    fmt, questions = read_benchmark(args.data, args.format, args.fields, args.answers)
    if args.export_lm_eval:
        from qilin.eval.lm_eval_task import export_benchmark_task

        out, task = export_benchmark_task(args.data, fmt, questions, args.export_lm_eval)
        log.info(
            f"wrote {out}; run: lm_eval --model hf --model_args pretrained=MODEL --include_path {out} --tasks {task}"
        )
        return 0
    if args.predictions:
        replies = read_predictions(args.predictions, [q.id for q in questions])
        _show_tables(score_exam(questions, replies=replies), args.json)
        return 0
    if args.shots and not args.dev:
        raise ConfigError("--shots needs --dev FILE to draw the solved examples from")
    shots = read_benchmark(args.dev, fmt, args.fields)[1][: args.shots] if args.shots else []
    if len(shots) < args.shots:
        raise DataError(args.dev, "", f"holds {len(shots)} questions, fewer than --shots {args.shots}")
    try:
        tables = score_exam(
            questions,
            _subject(args),
            mode=args.mode,
            shots=shots,
            retriever=open_retriever(args.rag),
            top_k=args.rag_top_k,
            batch_size=args.batch_size,
        )
    except NoPromptLogprobs as e:
        raise ConfigError(f"{e}; score by generation instead: --mode generate") from None
    _show_tables(tables, args.json)
    return 0


def run_qa(args: argparse.Namespace) -> int:
    """`qilin eval qa`: BLEU and ROUGE of generated answers or of --predictions."""
    from qilin.eval.qa import evaluate_qa, generate_answers, read_predictions, read_qa

    items = read_qa(args.data)
    if args.predictions:
        predictions = read_predictions(args.predictions, [item.id for item in items])
    else:
        subject = _subject(args)
        predictions = generate_answers(subject.model, subject.tokenizer, items, args.batch_size, args.max_new_tokens)
        if args.save_predictions:
            rows = [{"id": item.id, "prediction": p} for item, p in zip(items, predictions, strict=True)]
            write_atomic(Path(args.save_predictions), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    scores = evaluate_qa(items, predictions)
    for name, value in scores.items():
        log.info(f"{name:<18} {value}")
    if args.json:
        write_atomic(Path(args.json), json.dumps(scores, indent=1))
    return 0


def run_vqa(args: argparse.Namespace) -> int:
    """`qilin eval vqa`: PMC-VQA accuracy of a VL model."""
    from qilin.eval.vqa import evaluate_vqa, load_questions

    questions = load_questions(args.data, args.images, args.max_questions)
    subject = _subject(args, "vl_model")
    result = evaluate_vqa(subject.model, subject.tokenizer, subject.processor, questions, args.batch_size)
    result.pop("correct")
    _show_tables(result, args.json)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the `qilin eval` verb the arguments name."""
    verbs = {"mcq": run_mcq, "qa": run_qa, "vqa": run_vqa, "safety": eval_safety.run}
    return verbs[args.eval_verb](args)


def _add_mcq(eval_verbs: argparse._SubParsersAction) -> None:
    mcq = eval_verbs.add_parser(
        "mcq",
        help="multiple choice in any published layout: CMExam, CMB, MedQA, CMMLU, MedMCQA, PubMedQA, ...",
        description="Score a multiple-choice benchmark file in its published layout, detected from the file "
        "type and fields (or --format): --mode loglik scores each option's text as a continuation of the question "
        "(lm-evaluation-harness style: acc and acc_norm), for base and DCPT models; --mode generate asks for the "
        "letters (zero- or few-shot from --dev) and extracts them from the reply; --predictions scores replies "
        "made elsewhere (JSONL with 'prediction', matched by 'id' or by line). Multi-answer questions (several "
        "answer letters, or marked multiple-choice as CMB's 多项选择题) count only on an exact set match. Accuracy "
        "is shown overall, single/multi and per group field of the file, each with its 95% Wilson interval. "
        "--rag INDEX puts the top passages of a `qilin rag index` in front of each question.\n\nformats:\n"
        + "\n".join(f"  {name:<12} {text}" for name, text in FORMATS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcq.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    mcq.add_argument("--data", required=True, help="benchmark file (a folder of CMMLU subject CSVs also works)")
    mcq.add_argument("--format", choices=("auto", *FORMATS), default="auto", help="layout (default: auto, detect)")
    mcq.add_argument("--fields", help="generic layout: question=F,options=F,answer=F,groups=F1+F2,id=F")
    mcq.add_argument("--answers", help="answers published apart, joined by id (CMB-test-choice-answer.json)")
    mcq.add_argument("--mode", choices=("loglik", "generate"), default="loglik", help="how to score (default loglik)")
    mcq.add_argument(
        "--shots", type=int, default=0, help="solved dev examples in the prompt, generate mode (default 0)"
    )
    mcq.add_argument("--dev", help="file of the same layout the few-shot examples come from")
    eval_safety.add_endpoint_options(mcq)
    mcq.add_argument("--predictions", help="JSONL of replies made elsewhere ('prediction', and 'id' or line order)")
    mcq.add_argument("--export-lm-eval", metavar="DIR", help="write an lm-evaluation-harness task for --data and exit")
    mcq.add_argument("--rag", metavar="INDEX", help="put the top passages of this index (qilin rag index) first")
    mcq.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag (default 3)")
    mcq.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass (default 32)")
    mcq.add_argument("--json", help="also write the tables to this JSON file")
    mcq.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    mcq.set_defaults(func=run)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `eval` with mcq, qa, vqa and safety."""
    evaluate = subparsers.add_parser("eval", help="evaluate a model", description="Evaluate a model on a benchmark.")
    eval_verbs = evaluate.add_subparsers(dest="eval_verb", required=True, metavar="BENCHMARK")
    _add_mcq(eval_verbs)

    qa = eval_verbs.add_parser(
        "qa",
        help="Huatuo-26M-style open QA: BLEU and ROUGE",
        description="Generate an answer to each question (batched, greedy) or read --predictions, then print "
        "BLEU-1/2/4 (corpus BLEU on jieba words, no smoothing) and ROUGE-1/2/L F1 on characters as the "
        "Qilin-Med/CMExam code defines them (unique n-grams), plus count-based ROUGE (rouge_*_count).",
    )
    qa.add_argument("model", nargs="?", help="local HF model directory (not needed with --predictions)")
    qa.add_argument("--data", required=True, help="JSONL with questions/answers (or question/answer)")
    eval_safety.add_endpoint_options(qa)
    qa.add_argument("--predictions", help="JSONL with 'prediction' per line (and 'id' to match by id)")
    qa.add_argument("--save-predictions", help="write the generated answers here")
    qa.add_argument("--batch-size", type=int, default=16, help="questions per generation batch (default 16)")
    qa.add_argument("--max-new-tokens", type=int, default=256, help="longest answer in tokens (default 256)")
    qa.add_argument("--json", help="also write the scores to this JSON file")
    qa.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    qa.set_defaults(func=run)

    vqa = eval_verbs.add_parser(
        "vqa",
        help="PMC-VQA multiple choice for a vision-language model",
        description="4-choice accuracy by option log-likelihood and by generation (the reply mapped to the most "
        "similar choice, as PMC-VQA's own evaluation does), overall and per Type column, and open-ended token "
        "recall/F1 of the reply against the correct choice's text (LLaVA-Med's VQA-RAD/SLAKE metric). With "
        "--endpoint, the questions go to a served VL model as chat requests with the image as a PNG data URL: "
        "generation and open-ended figures only (the API gives no log-probs of a prompt with an image).",
    )
    vqa.add_argument("model", nargs="?", help="a Qilin-Med-VL model directory, e.g. runs/demo-vl/vl_instruct/model")
    vqa.add_argument("--data", required=True, help="PMC-VQA CSV (Figure_path, Question, Choice A-D, Answer_label)")
    vqa.add_argument("--images", help="folder Figure_path is relative to (default: the CSV's folder)")
    eval_safety.add_endpoint_options(vqa)
    vqa.add_argument("--max-questions", type=int, default=0, help="a fixed random subset of this size (default 0: all)")
    vqa.add_argument("--batch-size", type=int, default=16, help="questions per forward pass (default 16)")
    vqa.add_argument("--json", help="also write the tables to this JSON file")
    vqa.set_defaults(func=run)

    eval_safety.add_parser(eval_verbs)
    from qilin.cli.serve import add_parity_parser

    add_parity_parser(eval_verbs)
