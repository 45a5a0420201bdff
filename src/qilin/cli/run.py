"""`qilin run | train | report`: run a recipe, run one stage, rebuild a run's report."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
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
# An override whose first part names a recipe section is a recipe key; any other is a key of the stage.
RECIPE_SECTIONS = tuple(f"{f.name}." for f in dataclasses.fields(Recipe))

OVERRIDES_HELP = (
    "Overrides are KEY=VALUE with a dotted key and a YAML value, e.g. "
    "stages.sft.learning_rate=1e-4 stages.cpt.epochs=2 model.path=/models/baichuan-7b"
)


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


def train_recipe(stage: str, model: str, data: list[str], overrides: list[str]) -> Recipe:
    """The one-stage recipe `qilin train` runs: overrides name the stage's keys or any dotted recipe key."""
    from qilin.config import apply_override, check_recipe, from_dict

    raw = {"name": stage, "model": {"path": model}, "stages": {stage: {"data": data}}}
    for override in overrides:
        key = override if override.startswith(RECIPE_SECTIONS) else f"stages.{stage}.{override}"
        apply_override(raw, key)
    if stage in VL_STAGES and "path" not in raw.get("vision", {}):
        # The recipe default, 'embedded', pre-trains the demo's toy ViT: never what a user with a model means.
        raise ConfigError(
            f"qilin train {stage}: name the vision tower with vision.path=DIR (a local CLIP, SigLIP or ViT "
            "directory), or vision.path=embedded for the demo's tiny ViT"
        )
    recipe = from_dict(Recipe, raw)
    check_recipe(recipe)
    return recipe


def cmd_train(args: argparse.Namespace) -> int:
    from qilin.distributed import is_main_process
    from qilin.pipeline import run_recipe
    from qilin.report import markdown_table, stage_rows

    recipe = train_recipe(args.stage, args.model, args.data, args.overrides)
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


def _stage_keys(name: str, cls: type) -> str:
    lines = describe_fields(cls, f"stages.{name}.")
    if name in VL_STAGES:
        lines += describe_fields(VisionSettings, "vision.")
    return f"{name} keys:\n" + "\n".join(lines)


def add_parser(verbs: argparse._SubParsersAction) -> None:
    """Add run, train and report."""
    run = verbs.add_parser(
        "run",
        help="run every stage of a recipe",
        description="Run every stage of RECIPE in order, each from the previous stage's output. Stages already "
        "complete with unchanged inputs are skipped; an interrupted stage resumes from its last checkpoint. "
        + OVERRIDES_HELP,
        epilog="recipe keys:\n" + "\n".join(describe_fields(Recipe)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("recipe", nargs="?", default="recipes/demo.yaml", help="YAML recipe (default: the demo)")
    run.add_argument("overrides", nargs="*", help="KEY=VALUE overrides")
    run.add_argument("--output", help="run directory (default: runs/<recipe name>)")
    run.add_argument(
        "--ablate",
        action="store_true",
        help="also run the recipe without each stage (without DCPT, SFT, DPO; VL: without stage 1 at equal steps) "
        "into OUTPUT-ablate/<variant>, reusing stored stage outputs whose inputs are unchanged, and write "
        "OUTPUT-ablate/ablation.md, .json and .png",
    )
    run.add_argument(
        "--seeds", type=int, default=1, help="with --ablate: run every variant with N training seeds (mean ± sd)"
    )
    run.add_argument(
        "--gates",
        choices=("report", "strict"),
        default="report",
        help="eval.gates: 'report' shows each verdict in report.md (default); 'strict' also stops before the next "
        "stage when a gate fails (the stage's output stays; rerunning continues)",
    )
    run.set_defaults(func=cmd_run)

    train = verbs.add_parser(
        "train",
        help="run one stage",
        description="Run one stage on a model and data files, without a recipe file. Overrides name the "
        "stage's keys directly (learning_rate=1e-4) or any recipe key (model.dtype=bfloat16, vision.path=DIR; "
        "on 8 GPUs: launch.launcher=accelerate launch.engine=fsdp launch.processes=8). The VL stages need "
        "vision.path. Put overrides before --data.",
        epilog="\n\n".join(_stage_keys(name, cls) for name, cls in STAGE_SETTINGS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("stage", choices=STAGE_ORDER, help="which stage")
    train.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of the stage's settings")
    train.add_argument("--model", required=True, help="local HF model directory to start from")
    train.add_argument("--data", required=True, nargs="+", help="input files (see `qilin data check`)")
    train.add_argument("--output", required=True, help="run directory; the model lands in OUTPUT/STAGE/model")
    train.set_defaults(func=cmd_train)

    report = verbs.add_parser(
        "report",
        help="rebuild a run's report",
        description="Write report.md, report.json, losses.png and metrics.png in RUN_DIR from its manifest "
        "and training logs (`qilin run` does this at the end of every run).",
    )
    report.add_argument("run_dir", help="a run directory made by `qilin run`")
    report.add_argument("--paper", action="store_true", help="show the Qilin-Med paper's numbers beside ours")
    report.set_defaults(func=cmd_report)
