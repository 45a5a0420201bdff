"""The stage protocol: what every training stage receives and returns, text or vision.

A stage is a module in `qilin.stages` with one function

    def run(ctx: StageContext) -> dict[str, Any]: ...

It reads `ctx.data`, starts from the model at `ctx.model_path`, writes everything under `ctx.stage_dir`
(checkpoints/, tensorboard/, adapter/ for LoRA, log_history.json) and its output model to `ctx.output`, a
standard Hugging Face directory the next stage starts from; it returns its metrics (numbers the manifest and
the stage table show). Every stage follows the same skeleton, top to bottom:

    setup -> build model -> build data -> train -> save

and calls the shared components of `qilin.training` with flat arguments (they never see a context):
`build_model` (load, LoRA attach), `stage_arguments` (the one way to build training arguments: the recipe's
values, then the stage's own keys such as trl's beta), `build_trainer` (the one Trainer construction, with
TensorBoard), `train` (resume from the last complete checkpoint) and `save_stage_output` (LoRA merge,
consolidated atomic save). The pipeline (`qilin.pipeline.runner`) decides which stages run and hands each its
context; `qilin train STAGE` runs a one-stage recipe through the same pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from qilin.config import ModelSettings, TrainSettings, VisionSettings


@dataclass(frozen=True)
class StageContext:
    """Everything a stage needs, and nothing else."""

    config: TrainSettings  # the stage's typed settings (CptSettings, SftSettings, ...)
    data: list[Path]  # resolved input files, in the recipe's order
    data_hashes: list[str]  # sha256 of each input file: cache keys (packed corpus, DPO reference log-probs)
    model_path: Path  # the model the stage starts from: the base, or the previous stage's output
    model: ModelSettings  # how to load it (dtype, chat template, remote code, attention)
    stage_dir: Path  # where the stage writes
    vision_dir: Path | None = None  # VL stages: the vision tower
    vision: VisionSettings | None = None  # VL stages: projector kind and feature layer
    feeds_next_stage: bool = False  # a later stage starts from this one's output (it then keeps fp32 weights)
    rag_index: Path | None = None  # SFT with stages.sft.rag: the index its training passages are retrieved from
    evaluation_items: tuple[str, ...] = ()  # the recipe's evaluation questions: no training passage may hold one
    reading_data: tuple[Path, ...] = ()  # SFT: stages.sft.rag.reading's files (also the last of `data`)

    @property
    def output(self) -> Path:
        """The stage's output model directory."""
        return self.stage_dir / "model"


class Stage(Protocol):
    """A stage module, as the pipeline sees it."""

    def run(self, ctx: StageContext) -> dict[str, Any]:
        """Train, write `ctx.output`, return metrics."""
        ...
