"""`qilin run | train | report`: run a recipe, run one stage, rebuild a run's report."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

from qilin.config import (
    STAGE_ORDER,
    VL_STAGES,
    ConfigError,
    CptSettings,
    DpoSettings,
    GrpoSettings,
    Recipe,
    SftSettings,
    VisionSettings,
    VLAlignSettings,
    VLInstructSettings,
    describe_fields,
    one_stage_recipe,
)
from qilin.log import get_logger

log = get_logger(__name__)

STAGE_SETTINGS = {
    "cpt": CptSettings,
    "sft": SftSettings,
    "dpo": DpoSettings,
    "grpo": GrpoSettings,
    "vl_align": VLAlignSettings,
    "vl_instruct": VLInstructSettings,
}
HELP_WIDTH = 100
_STAGE_HELP = {
    "cpt": "domain continued pre-training on text",
    "sft": "supervised fine-tuning on conversations",
    "dpo": "direct preference optimization on pairs",
    "grpo": "group relative policy optimization on verifiable problems",
    "vl_align": "VL stage 1: align the projector on image-caption pairs",
    "vl_instruct": "VL stage 2: instruction-tune on image conversations",
}


def _launched_elsewhere(recipe: Recipe, args: argparse.Namespace) -> int | None:
    """With a launcher set, start this same command in every process and return its exit code; else None."""
    from qilin.distributed import init_processes, inside_launcher, launch_command

    if recipe.launch.launcher == "none" or inside_launcher():
        init_processes()
        return None
    command = launch_command(recipe.launch, args.argv)
    log.info(f"launching: {shlex.join(command)}")
    return subprocess.run(command).returncode


def cmd_run(args: argparse.Namespace) -> int:
    from qilin.config import load_recipe
    from qilin.distributed import is_main_process
    from qilin.pipeline import GateFailed, run_recipe
    from qilin.report import markdown_table, stage_rows

    recipe = load_recipe(args.recipe, args.overrides)
    if args.seeds != 1 and not args.ablate:
        raise ConfigError("--seeds N repeats the ablation's runs: use it with --ablate")
    if (code := _launched_elsewhere(recipe, args)) is not None:
        return code
    run_dir = Path(args.output) if args.output else Path("runs") / recipe.name
    if args.ablate:
        return _ablate(recipe, run_dir, args.seeds)
    try:
        run_recipe(recipe, run_dir, gates=args.gates)
    except GateFailed as e:
        log.error(f"{e}\nreport: {run_dir / 'report.md'}")
        return 1
    if not is_main_process():
        return 0
    log.info(f"\n{markdown_table(stage_rows(run_dir), recipe.eval.paper_numbers)}\n")
    log.info(f"run directory: {run_dir}\nreport: {run_dir / 'report.md'}")
    return 0


def _ablate(recipe: Recipe, run_dir: Path, seeds: int) -> int:
    from qilin.distributed import is_main_process
    from qilin.pipeline.ablation import ablation_dir, run_ablation
    from qilin.report import ablation_rows, ablation_table

    runs = run_ablation(recipe, run_dir, seeds)
    if not is_main_process():
        return 0
    log.info(f"\n{ablation_table(ablation_rows(runs))}\n")
    log.info(f"ablation table: {ablation_dir(run_dir) / 'ablation.md'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from qilin.distributed import is_main_process
    from qilin.pipeline import run_recipe
    from qilin.report import markdown_table, stage_rows

    recipe = one_stage_recipe(args.stage, args.model, args.data, args.overrides)
    if (code := _launched_elsewhere(recipe, args)) is not None:
        return code
    run_recipe(recipe, Path(args.output))
    if not is_main_process():
        return 0
    log.info(markdown_table(stage_rows(Path(args.output)), paper=False))
    log.info(f"\nmodel: {Path(args.output) / args.stage / 'model'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from qilin.report import markdown_table, stage_rows, write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "manifest.json").exists():
        raise FileNotFoundError(f"{run_dir}: no manifest.json; is this a `qilin run` directory?")
    report = write_report(run_dir, paper=args.paper)
    log.info(markdown_table(stage_rows(run_dir), args.paper))
    log.info(f"\nreport: {report}")
    return 0


def section_keys(section: str) -> list[str]:
    """The keys of one recipe section or stage, as `qilin run` overrides type them (stages.sft.learning_rate)."""
    if section in STAGE_SETTINGS:
        return describe_fields(STAGE_SETTINGS[section], f"stages.{section}.")
    hints = typing.get_type_hints(Recipe)
    (cls,) = [a for a in (typing.get_args(hints[section]) or (hints[section],)) if dataclasses.is_dataclass(a)]
    return describe_fields(cls, f"{section}.")


def stage_keys(stage: str) -> list[str]:
    """The keys of one stage as `qilin train STAGE` takes them: bare (learning_rate), the vision tower's dotted."""
    lines = describe_fields(STAGE_SETTINGS[stage])
    return lines + describe_fields(VisionSettings, "vision.") if stage in VL_STAGES else lines


def _wrap(text: str) -> str:
    return textwrap.fill(text, HELP_WIDTH)


def _wrap_key(line: str) -> str:
    """One key's `  key (type, default): help` line, its help wrapped under it."""
    head, text = line.split("): ", 1)
    return f"{head}):\n" + textwrap.fill(text, HELP_WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6)


class _HelpKeys(argparse.Action):
    """`--help-keys SECTION`: print that section's keys and exit, as --help does."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option=None) -> None:
        keys = "\n".join(map(_wrap_key, section_keys(values)))
        sys.stdout.write(f"{values} keys (KEY=VALUE overrides):\n{keys}\n")  # to stdout, as --help writes
        parser.exit()


COMMANDS = {"run": cmd_run, "train": cmd_train, "report": cmd_report}


def run(args: argparse.Namespace) -> int:
    """Run `qilin run`, `qilin train` or `qilin report`."""
    return COMMANDS[args.verb](args)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add run, train and report."""
    recipe_sections = [f.name for f in dataclasses.fields(Recipe) if f.name != "name"]
    run_parser = verbs.add_parser(
        "run",
        help="run every stage of a recipe",
        description=_wrap(
            "Run every stage of RECIPE in order, each from the previous stage's output. Stages already complete "
            "with unchanged inputs are skipped; an interrupted stage resumes from its last checkpoint."
        ),
        epilog="Overrides are KEY=VALUE, a dotted recipe key and a YAML value:\n"
        "  qilin run recipes/demo.yaml stages.sft.learning_rate=1e-4 model.path=/models/baichuan-7b\n"
        f"Recipe sections: {', '.join(recipe_sections)}; the stages: {', '.join(STAGE_ORDER)}.\n"
        "Each key, its type, default and meaning: qilin run --help-keys SECTION (e.g. sft, model, eval).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_parser.add_argument("recipe", nargs="?", default="recipes/demo.yaml", help="YAML recipe")
    run_parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides")
    run_parser.add_argument(
        "--help-keys",
        metavar="SECTION",
        choices=(*STAGE_ORDER, *recipe_sections),
        action=_HelpKeys,
        default=argparse.SUPPRESS,
        help=f"list the keys of one recipe section or stage and exit ({', '.join((*STAGE_ORDER, *recipe_sections))})",
    )
    run_parser.add_argument("--output", help="run directory (default: runs/<recipe name>)")
    run_parser.add_argument(
        "--ablate",
        action="store_true",
        help="also run the recipe without each stage (without DCPT, SFT, DPO; VL: without stage 1 at equal steps) "
        "into OUTPUT-ablate/<variant>, reusing stored stage outputs whose inputs are unchanged, and write "
        "OUTPUT-ablate/ablation.md, .json and .png",
    )
    run_parser.add_argument(
        "--seeds", type=int, default=1, help="with --ablate: run every variant with N training seeds (mean ± sd)"
    )
    run_parser.add_argument(
        "--gates",
        choices=("report", "strict"),
        default="report",
        help="eval.gates: 'report' shows each verdict in report.md (default); 'strict' also stops before the next "
        "stage when a gate fails (the stage's output stays; rerunning continues)",
    )
    run_parser.set_defaults(func=run)

    train = verbs.add_parser(
        "train",
        help="run one stage",
        description="Run one stage on a model and data files, without a recipe file. `qilin train STAGE --help` "
        "lists the stage's keys.",
    )
    stages = train.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in STAGE_ORDER:
        vision = (
            " The VL stages need vision.path (a local CLIP, SigLIP or ViT directory)." if stage in VL_STAGES else ""
        )
        one = stages.add_parser(
            stage,
            help=_STAGE_HELP[stage],
            description=_wrap(
                f"Run the {stage} stage on a model and data files. Overrides are the stage's keys below, bare "
                "(learning_rate=1e-4), or any dotted recipe key (model.dtype=bfloat16; on 8 GPUs: "
                f"launch.launcher=accelerate launch.engine=fsdp launch.processes=8).{vision} Put overrides "
                "before --data."
            ),
            epilog=f"{stage} keys:\n" + "\n".join(map(_wrap_key, stage_keys(stage))),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        one.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of the stage's settings")
        one.add_argument("--model", required=True, help="local HF model directory to start from")
        one.add_argument("--data", required=True, nargs="+", help="input files (see `qilin data check`)")
        one.add_argument("--output", required=True, help="run directory; the model lands in OUTPUT/STAGE/model")
        one.set_defaults(func=run)

    report = verbs.add_parser(
        "report",
        help="rebuild a run's report",
        description="Write report.md, report.json, losses.png and metrics.png in RUN_DIR from its manifest "
        "and training logs (`qilin run` does this at the end of every run).",
    )
    report.add_argument("run_dir", help="a run directory made by `qilin run`")
    report.add_argument("--paper", action="store_true", help="show the Qilin-Med paper's numbers beside ours")
    report.set_defaults(func=run)
