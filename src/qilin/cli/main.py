"""The `qilin` command line: a thin layer over the library; every verb has --help."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qilin.config import STAGE_ORDER, ConfigError, CptSettings, DpoSettings, Recipe, SftSettings, describe_fields

STAGE_SETTINGS = {"cpt": CptSettings, "sft": SftSettings, "dpo": DpoSettings}

OVERRIDES_HELP = (
    "Overrides are KEY=VALUE with a dotted key and a YAML value, e.g. "
    "stages.sft.learning_rate=1e-4 stages.cpt.epochs=2 model.path=/models/baichuan-7b"
)


def _recipe_keys() -> str:
    return "recipe keys:\n" + "\n".join(describe_fields(Recipe))


def _launched_elsewhere(recipe: Recipe, args: argparse.Namespace) -> int | None:
    """With a launcher set, start this same command in every process and return its exit code; else None."""
    import shlex
    import subprocess

    from qilin.distributed import init_processes, inside_launcher, launch_command

    if recipe.launch.launcher == "none" or inside_launcher():
        init_processes()
        return None
    command = launch_command(recipe.launch, args.argv)
    print(f"launching: {shlex.join(command)}", flush=True)
    return subprocess.run(command).returncode


def cmd_run(args: argparse.Namespace) -> int:
    from qilin.config import load_recipe
    from qilin.distributed import is_main_process
    from qilin.pipeline.runner import run_recipe
    from qilin.report import markdown_table, stage_rows, write_report

    recipe = load_recipe(args.recipe, args.overrides)
    if (code := _launched_elsewhere(recipe, args)) is not None:
        return code
    run_dir = Path(args.output) if args.output else Path("runs") / recipe.name
    run_recipe(recipe, run_dir)
    if not is_main_process():
        return 0
    report = write_report(run_dir, paper=recipe.eval.paper_numbers)
    print(f"\n{markdown_table(stage_rows(run_dir), recipe.eval.paper_numbers)}\n")
    print(f"run directory: {run_dir}\nreport: {report}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from qilin.report import markdown_table, stage_rows, write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "manifest.json").exists():
        raise FileNotFoundError(f"{run_dir}: no manifest.json; is this a `qilin run` directory?")
    report = write_report(run_dir, paper=args.paper)
    print(markdown_table(stage_rows(run_dir), args.paper))
    print(f"\nreport: {report}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from qilin.config import apply_override, check_recipe, from_dict
    from qilin.pipeline.runner import run_recipe
    from qilin.report import markdown_table, stage_rows

    data = {
        "name": f"{args.stage}",
        "model": {"path": args.model},
        "stages": {args.stage: {"data": args.data}},
    }
    for override in args.overrides:
        prefixes = ("model.", "embedded.", "stages.", "launch.")
        key = override if override.startswith(prefixes) else f"stages.{args.stage}.{override}"
        apply_override(data, key)
    recipe = from_dict(Recipe, data)
    check_recipe(recipe)
    if (code := _launched_elsewhere(recipe, args)) is not None:
        return code
    run_recipe(recipe, Path(args.output))
    from qilin.distributed import is_main_process

    if not is_main_process():
        return 0
    print(markdown_table(stage_rows(Path(args.output)), paper=False))
    print(f"\nmodel: {Path(args.output) / args.stage / 'model'}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    if args.kind in ("vl", "caption", "pmcvqa"):
        return _check_vl_files(args)
    from qilin.data.text.stats import describe_file

    ok = True
    for path in args.files:
        report, summary = describe_file(path, args.kind, args.tokenizer)
        print(summary)
        ok = ok and report.bad == 0
    return 0 if ok else 1


def cmd_chat(args: argparse.Namespace) -> int:
    from transformers import AutoConfig

    import qilin.models.vl  # noqa: F401  (registers the qilin_vl model type with AutoConfig)
    from qilin.config import ModelSettings
    from qilin.models.loading import load_model, load_tokenizer
    from qilin.serve.chat import chat_loop, generate_reply, generate_vl_reply

    settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
    tokenizer = load_tokenizer(args.model, settings)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    if AutoConfig.from_pretrained(args.model).model_type == "qilin_vl":
        if not args.image or not args.prompt:
            raise ConfigError("a vision-language model needs --image FILE and --prompt TEXT")
        model, tokenizer, processor = _load_vl(args.model)
        messages.append({"role": "user", "content": args.prompt})
        print(generate_vl_reply(model, tokenizer, processor, args.image, messages, args.max_new_tokens))
        return 0
    if args.image:
        raise ConfigError(f"{args.model} is a text model; --image needs a Qilin-Med-VL model")
    model = load_model(args.model, settings).eval()
    retriever = _retriever(args.rag)
    if args.prompt:
        turn = {"role": "user", "content": args.prompt}
        if retriever is not None:
            from qilin.rag.prompt import rag_prompt

            turn["content"] = rag_prompt(args.prompt, retriever.search(args.prompt, args.rag_top_k))
            print(turn["content"], end="\n\n")
        print(generate_reply(model, tokenizer, [*messages, turn], args.max_new_tokens))
    else:
        chat_loop(model, tokenizer, args.system, args.max_new_tokens, retriever, args.rag_top_k)
    return 0


def _load_for_eval(args: argparse.Namespace) -> tuple:
    from qilin.config import ModelSettings
    from qilin.models.loading import load_model, load_tokenizer

    if not args.model:
        raise FileNotFoundError("give a MODEL directory, or --predictions to score predictions made elsewhere")
    settings = ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code)
    return load_model(args.model, settings).eval(), load_tokenizer(args.model, settings)


def _print_tables(tables: dict, out_json: str | None) -> None:
    import json

    for metric, table in tables.items():
        if not isinstance(table, dict):
            print(f"{metric}: {table}")
            continue
        print(f"{metric}:")
        for group, row in table.items():
            print(f"  {group:<32} {row['accuracy']:6.2f}  (n={row['n']})")
    if out_json:
        Path(out_json).write_text(json.dumps(tables, ensure_ascii=False, indent=1))


def cmd_eval_cmexam(args: argparse.Namespace) -> int:
    from qilin.eval import cmexam
    from qilin.eval.qa import read_predictions

    questions = cmexam.read_cmexam(args.data)
    if args.export_lm_eval:
        from qilin.eval.lm_eval_task import export_task

        out = export_task(args.data, args.export_lm_eval)
        print(
            f"wrote {out}; run: lm_eval --model hf --model_args pretrained=MODEL "
            f"--include_path {out} --tasks qilin_cmexam"
        )
        return 0
    if args.predictions:
        replies = read_predictions(args.predictions, [q.id for q in questions])
        _print_tables(cmexam.evaluate_generations(questions, replies), args.json)
        return 0
    if args.rag:
        questions = cmexam.with_retrieved_passages(questions, _retriever(args.rag), args.rag_top_k)
    model, tokenizer = _load_for_eval(args)
    if args.mode == "loglik":
        _print_tables(cmexam.evaluate_loglikelihood(model, tokenizer, questions, args.batch_size), args.json)
        return 0
    if args.shots and not args.dev:
        raise ConfigError("--shots needs --dev FILE to draw the solved examples from")
    shots = cmexam.read_cmexam(args.dev)[: args.shots] if args.shots else []
    if args.shots and len(shots) < args.shots:
        from qilin.data.records import DataError

        raise DataError(args.dev, "", f"holds {len(shots)} questions, fewer than --shots {args.shots}")
    replies = cmexam.generate_exam_replies(model, tokenizer, questions, shots, args.batch_size)
    _print_tables(cmexam.evaluate_generations(questions, replies), args.json)
    return 0


def cmd_eval_qa(args: argparse.Namespace) -> int:
    import json

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
        print(f"{name:<18} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=1))
    return 0


def _load_vl(model_dir: str) -> tuple:
    """(model, tokenizer, image processor) of a Qilin-Med-VL directory."""
    from transformers import AutoImageProcessor

    from qilin.config import ModelSettings
    from qilin.models.loading import load_tokenizer
    from qilin.models.vl import QilinVLForConditionalGeneration

    model = QilinVLForConditionalGeneration.from_pretrained(model_dir).eval()
    return (
        model,
        load_tokenizer(model_dir, ModelSettings(path=model_dir)),
        AutoImageProcessor.from_pretrained(model_dir),
    )


def cmd_eval_vqa(args: argparse.Namespace) -> int:
    from qilin.eval.vqa import evaluate_vqa, load_questions

    questions = load_questions(args.data, args.images, args.max_questions)
    model, tokenizer, processor = _load_vl(args.model)
    result = evaluate_vqa(model, tokenizer, processor, questions, args.batch_size)
    _print_tables(result, args.json)
    return 0


def cmd_export_llava(args: argparse.Namespace) -> int:
    from qilin.models.vl import export_llava

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out} already exists; give a new directory")
    model, tokenizer, processor = _load_vl(args.model)
    tmp = out.with_name(out.name + ".tmp")
    try:
        export_llava(model, processor, tokenizer, tmp)
    except ValueError as e:
        raise ConfigError(f"{args.model}: {e}") from e
    tmp.rename(out)
    print(f"wrote {out} (transformers LlavaForConditionalGeneration; vLLM: vllm serve {out})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qilin.config import ModelSettings
    from qilin.models.loading import check_model_dir
    from qilin.serve.engine import ChatEngine
    from qilin.serve.server import ServerLimits, create_app, serve

    check_model_dir(args.model)
    limits = ServerLimits(
        max_pending=args.max_pending,
        max_batch=args.max_batch,
        max_tokens=args.max_tokens,
        max_request_bytes=args.max_request_mb * 2**20,
        max_image_bytes=args.max_image_mb * 2**20,
        rag_top_k=args.rag_top_k,
    )
    engine = ChatEngine(args.model, ModelSettings(path=args.model, trust_remote_code=args.trust_remote_code))
    model_id = args.model_name or Path(args.model).resolve().name
    api_key = args.api_key or os.environ.get("QILIN_API_KEY")
    app = create_app(engine, model_id, limits, api_key=api_key, retriever=_retriever(args.rag))
    print(f"serving {model_id!r} on http://{args.host}:{args.port} (web page at /, OpenAI API at /v1)")
    serve(app, args.host, args.port)
    return 0


def _retriever(index: str | None) -> object:
    if not index:
        return None
    from qilin.rag.index import load_index

    return load_index(Path(index))


def cmd_rag_index(args: argparse.Namespace) -> int:
    from qilin.rag.index import build_index, load_index

    try:
        out = build_index(
            [Path(c) for c in args.corpus],
            Path(args.out),
            kind=args.kind,
            embedding_model=Path(args.embedding_model) if args.embedding_model else None,
            passage_chars=args.passage_chars,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from e
    info = load_index(out).info
    print(f"wrote {out}: {info.get('passages')} passages from {len(args.corpus)} file(s), {info.get('kind')}")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from qilin.data.text.formats import iter_file, read_file
    from qilin.datasets.chimed import build_chimed
    from qilin.datasets.knowledge import kb_from_triples, load_kb

    diseases = kb_from_triples(args.triples) if args.triples else load_kb(args.kb)
    extra_text = [doc for path in args.text for doc in iter_file(path, "cpt")]
    extra_conversations = [c for path in args.conversations for c in read_file(path, "sft")]
    report = build_chimed(
        diseases,
        Path(args.out),
        seed=args.seed,
        held_out_fraction=args.held_out,
        extra_text=extra_text,
        extra_conversations=extra_conversations,
    )
    print(report["filter_summary"])
    for key in (
        "diseases",
        "cpt_documents",
        "cpt_characters",
        "sft_conversations",
        "dpo_pairs",
        "exam_test",
        "exam_dev",
    ):
        print(f"{key:<18} {report[key]}")
    print(f"{'qa_test':<18} {report['qa_test']}\nleakage check: no test item appears in the training text")
    print(f"wrote {args.out}")
    return 0


def _check_vl_files(args: argparse.Namespace) -> int:
    from qilin.data.vision.images import ImageError, load_image
    from qilin.data.vision.vl_data import read_pmcvqa, read_vl_file

    ok = True
    for name in args.files:
        path = Path(name)
        root = Path(args.images) if args.images else path.parent
        if args.kind == "pmcvqa":
            images = [(f"question {i}", q.image) for i, q in enumerate(read_pmcvqa(path, root), 1)]
        else:
            images = [(r.where, r.image) for r in read_vl_file(path, args.kind, root)]
        bad = []
        for where, image in images:
            try:
                load_image(image)
            except ImageError as e:
                bad.append(f"{path}:{where}: {e}")
        print(f"{path}: {args.kind} data, {len(images)} records, {len(bad)} with a bad image")
        if bad:
            print(f"  first bad record: {bad[0]}")
            ok = False
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb."""
    parser = argparse.ArgumentParser(
        prog="qilin",
        description="Qilin: turn a general LLM into a medical one (DCPT -> SFT -> DPO), from one YAML recipe.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser(
        "run",
        help="run every stage of a recipe",
        description="Run every stage of RECIPE in order, each from the previous stage's output. Stages already "
        "complete with unchanged inputs are skipped; an interrupted stage resumes from its last checkpoint. "
        + OVERRIDES_HELP,
        epilog=_recipe_keys(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("recipe", nargs="?", default="recipes/demo.yaml", help="YAML recipe (default: the demo)")
    run.add_argument("overrides", nargs="*", help="KEY=VALUE overrides")
    run.add_argument("--output", help="run directory (default: runs/<recipe name>)")
    run.set_defaults(func=cmd_run)

    train = verbs.add_parser(
        "train",
        help="run one stage",
        description="Run one stage on a model and data files, without a recipe file. Overrides name the "
        "stage's keys directly (learning_rate=1e-4) or any recipe key (model.dtype=bfloat16; on 8 GPUs: "
        "launch.launcher=accelerate launch.engine=fsdp launch.processes=8). Put overrides before --data.",
        epilog="\n\n".join(
            f"{name} keys:\n" + "\n".join(describe_fields(cls, f"stages.{name}."))
            for name, cls in STAGE_SETTINGS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("stage", choices=STAGE_ORDER, help="which stage")
    train.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of the stage's settings")
    train.add_argument("--model", required=True, help="local HF model directory to start from")
    train.add_argument("--data", required=True, nargs="+", help="input files (see `qilin data check`)")
    train.add_argument("--output", required=True, help="run directory; the model lands in OUTPUT/STAGE/model")
    train.set_defaults(func=cmd_train)

    data = verbs.add_parser("data", help="check data files", description="Work with data files.")
    data_verbs = data.add_subparsers(dest="data_verb", required=True, metavar="VERB")
    check = data_verbs.add_parser(
        "check",
        help="validate files and print record and token statistics",
        description="Read FILE in any accepted format of KIND; print the detected format, record count and "
        "token statistics, or name the file, line and field of the first bad record and count all bad "
        "ones (exit 1).",
    )
    check.add_argument("files", nargs="+", help="data files")
    check.add_argument(
        "--kind", required=True, choices=("cpt", "sft", "dpo", "vl", "caption", "pmcvqa"), help="what the file is for"
    )
    check.add_argument("--images", help="image folder of a VL file (default: the file's folder)")
    check.add_argument("--tokenizer", help="local model directory whose tokenizer counts tokens (else characters)")
    check.set_defaults(func=cmd_data_check)

    build = data_verbs.add_parser(
        "build",
        help="build ChiMed-style CPT/SFT/DPO data and test sets from a knowledge base",
        description="Turn a medical knowledge base (the bundled one, your own JSON in the same schema, or your "
        "triples) plus your own texts and conversations into chimed_cpt.jsonl, chimed_sft.jsonl, "
        "chimed_dpo.jsonl, a CMExam-format exam (cmexam_test.csv, cmexam_dev.csv) and a Huatuo-format QA "
        "test (huatuo_test.jsonl). Deduplicates, filters, and refuses to write if any test item appears in "
        "the training text. Deterministic given --seed.",
    )
    build.add_argument("--out", required=True, help="output directory")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--kb", help="knowledge base JSON (default: the bundled one)")
    source.add_argument("--triples", help="CSV (head,relation,tail) or JSONL triples, e.g. 高血压,department,心内科")
    build.add_argument("--text", nargs="*", default=[], help="extra plain-text corpora for CPT (any cpt format)")
    build.add_argument("--conversations", nargs="*", default=[], help="extra QA/dialogue files (any sft format)")
    build.add_argument("--held-out", type=float, default=0.2, help="share of diseases kept out of SFT/DPO/QA text")
    build.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    build.set_defaults(func=cmd_data_build)

    from qilin.cli.curation import add_translate_commands

    add_translate_commands(data_verbs)

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

    export = verbs.add_parser("export", help="convert a model for other tools", description="Convert a model.")
    export_verbs = export.add_subparsers(dest="export_verb", required=True, metavar="FORMAT")
    llava = export_verbs.add_parser(
        "llava",
        help="Qilin-Med-VL (MLP projector) -> transformers LLaVA layout",
        description="Write a Qilin-Med-VL model with the 'mlp' projector and a CLIP or SigLIP tower as "
        "transformers' LlavaForConditionalGeneration (weights renamed, nothing retrained), so vLLM and other "
        "LLaVA tooling load it.",
    )
    llava.add_argument("model", help="a Qilin-Med-VL model directory")
    llava.add_argument("out", help="new output directory")
    llava.set_defaults(func=cmd_export_llava)

    report = verbs.add_parser(
        "report",
        help="rebuild a run's report",
        description="Write report.md, report.json, losses.png and metrics.png in RUN_DIR from its manifest "
        "and training logs (`qilin run` does this at the end of every run).",
    )
    report.add_argument("run_dir", help="a run directory made by `qilin run`")
    report.add_argument("--paper", action="store_true", help="show the Qilin-Med paper's numbers beside ours")
    report.set_defaults(func=cmd_report)

    chat = verbs.add_parser(
        "chat",
        help="talk to a model in the terminal",
        description="Chat with a model using the chat template it was trained with.",
    )
    chat.add_argument("model", help="local HF model directory, e.g. runs/demo/dpo/model")
    chat.add_argument("--prompt", help="answer this one question and exit (no interactive loop)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--image", help="an image (PNG, JPEG or DICOM) for a vision-language model")
    chat.add_argument("--max-new-tokens", type=int, default=256, help="longest reply in tokens")
    chat.add_argument("--rag", metavar="INDEX", help="answer with the top passages of this index in the prompt")
    chat.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag")
    chat.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    chat.set_defaults(func=cmd_chat)

    serve_parser = verbs.add_parser(
        "serve",
        help="OpenAI-compatible API server and web page",
        description="Serve a text or VL model over HTTP: POST /v1/chat/completions (streaming or not, images as "
        "base64 data URLs for VL models), GET /v1/models, GET /health, and a chat page at /. Requests beyond "
        "--max-pending get 503; up to --max-batch are generated together. Any OpenAI client works: "
        "OpenAI(base_url='http://HOST:PORT/v1', api_key=KEY). For GPU serving of a text model, vLLM loads our "
        "checkpoints as they are (see README).",
    )
    serve_parser.add_argument("model", help="local HF model directory (text or Qilin-Med-VL)")
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    serve_parser.add_argument("--port", type=int, default=8000, help="TCP port")
    serve_parser.add_argument("--model-name", help="the model id clients use (default: the directory's name)")
    serve_parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (or set QILIN_API_KEY)")
    serve_parser.add_argument("--rag", metavar="INDEX", help="put the top passages of this index before questions")
    serve_parser.add_argument("--rag-top-k", type=int, default=3, help="passages per question with --rag")
    serve_parser.add_argument("--max-pending", type=int, default=64, help="requests held at once; more get 503")
    serve_parser.add_argument("--max-batch", type=int, default=8, help="requests generated together")
    serve_parser.add_argument("--max-tokens", type=int, default=512, help="the most new tokens a request may ask")
    serve_parser.add_argument("--max-request-mb", type=int, default=16, help="largest request body")
    serve_parser.add_argument("--max-image-mb", type=int, default=8, help="largest image in a request")
    serve_parser.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own code")
    serve_parser.set_defaults(func=cmd_serve)

    rag = verbs.add_parser("rag", help="retrieval over medical texts", description="Retrieval (Qilin-Med-RAG).")
    rag_verbs = rag.add_subparsers(dest="rag_verb", required=True, metavar="VERB")
    rag_index = rag_verbs.add_parser(
        "index",
        help="build a retrieval index",
        description="Split medical texts (.txt: a document per line or per blank-line paragraph; .jsonl/.json "
        "with 'text') into passages and index them: BM25 over jieba words, or dense vectors from a local "
        "embedding model. The index is a directory (no pickles) that --rag on chat, serve and eval cmexam reads.",
    )
    rag_index.add_argument("corpus", nargs="+", help="text files to index")
    rag_index.add_argument("--out", required=True, help="index directory to write")
    rag_index.add_argument("--kind", choices=("bm25", "dense"), default="bm25", help="retrieval method")
    rag_index.add_argument("--embedding-model", help="local HF encoder directory (--kind dense)")
    rag_index.add_argument("--passage-chars", type=int, default=200, help="longest passage in characters")
    rag_index.set_defaults(func=cmd_rag_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `qilin` command."""
    parser = build_parser()
    # argparse cannot take positionals on both sides of an option (`run R.yaml --output D key=value`), so
    # KEY=VALUE words it leaves over are overrides too.
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a launcher runs again in every process
    if extra:
        if not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    from qilin.data.records import DataError

    try:
        return args.func(args)
    except (ConfigError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
