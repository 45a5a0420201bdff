"""What every training stage shares: model and Trainer construction, the resumable loop, the saved output,
and the Trainer subclasses of single stages (per-source CPT loss, cached DPO reference log-probs)."""

from qilin.training.loop import real_tokens_per_second, train
from qilin.training.output import save_stage_output
from qilin.training.trainer import build_model, build_trainer, stage_arguments, training_arguments

__all__ = [
    "build_model",
    "build_trainer",
    "real_tokens_per_second",
    "save_stage_output",
    "stage_arguments",
    "train",
    "training_arguments",
]
