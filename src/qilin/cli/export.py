"""`qilin export llava`: convert a Qilin-Med-VL model for other tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qilin.config import ConfigError
from qilin.log import get_logger

log = get_logger(__name__)


def cmd_export_llava(args: argparse.Namespace) -> int:
    from qilin.models.vision import load_vl_model
    from qilin.models.vl import export_llava

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out} already exists; give a new directory")
    config = Path(args.model) / "config.json"
    if not config.is_file():
        raise ConfigError(f"{args.model}: no config.json; give a Qilin-Med-VL model directory")
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    if model_type != "qilin_vl":
        raise ConfigError(
            f"{args.model} is not a Qilin-Med-VL output (model_type {model_type!r}); `export llava` converts the "
            "model of a vl_align or vl_instruct stage"
        )
    model, tokenizer, processor = load_vl_model(args.model)
    tmp = out.with_name(out.name + ".tmp")
    try:
        export_llava(model, processor, tokenizer, tmp)
    except ValueError as e:
        raise ConfigError(f"{args.model}: {e}") from e
    tmp.rename(out)
    log.info(f"wrote {out} (transformers LlavaForConditionalGeneration; vLLM: vllm serve {out})")
    return 0


COMMANDS = {"llava": cmd_export_llava}


def run(args: argparse.Namespace) -> int:
    """Run `qilin export llava`."""
    return COMMANDS[args.export_verb](args)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add `export` with llava."""
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
    llava.set_defaults(func=run)
