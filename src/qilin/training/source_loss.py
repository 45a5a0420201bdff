"""Per-source token loss of a corpus mixing sources (medical text, general text, KG text, ...).

Logged every `logging_steps` as `loss/<source>` beside the Trainer's `loss`: the sum of the token losses of that
source's blocks since the last log over their number of label tokens, summed over gradient-accumulation
micro-batches and, under DDP, over processes. It is the source's true mean token loss, not a mean of batch
means, so a source with few tokens in a window is neither over- nor under-weighted.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer

from qilin.chat_templates import IGNORE_INDEX

_LOSS_CHUNK_TOKENS = 1024  # positions per cross-entropy call: bounds the float32 copy of the logits it makes


def source_token_loss_sums(
    logits: torch.Tensor, labels: torch.Tensor, source: torch.Tensor, num_sources: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per source: (sum of next-token losses as float32, number of label tokens as int64) over a batch of blocks.

    logits (B, T, V), labels (B, T) with IGNORE_INDEX where no loss is taken, source (B,): one source per block.
    Token t's logits predict label t+1, as in transformers' causal-LM loss.
    """
    logits, labels = logits.detach(), labels.to(logits.device)
    row_sums = torch.zeros(logits.shape[0], dtype=torch.float32, device=logits.device)  # (B,)
    with torch.no_grad():
        for b in range(logits.shape[0]):
            for t in range(0, logits.shape[1] - 1, _LOSS_CHUNK_TOKENS):
                chunk = logits[b, t : t + _LOSS_CHUNK_TOKENS].float()  # (C, V); the last row of a block has no target
                target = labels[b, t + 1 : t + 1 + _LOSS_CHUNK_TOKENS]  # (C',) with C' = C or C - 1
                row_sums[b] += F.cross_entropy(chunk[: len(target)], target, ignore_index=IGNORE_INDEX, reduction="sum")
    row_counts = (labels[:, 1:] != IGNORE_INDEX).sum(dim=1)  # (B,)
    source = source.to(logits.device)
    sums = torch.zeros(num_sources, dtype=torch.float32, device=logits.device).index_add_(0, source, row_sums)
    counts = torch.zeros(num_sources, dtype=torch.int64, device=logits.device).index_add_(0, source, row_counts)
    return sums, counts


class SourceLossTrainer(Trainer):
    """A Trainer whose batches carry `source` (one id per block) and whose logs add `loss/<source>`.

    Why a Trainer subclass and not a hook: the per-source sums need the batch's source ids and the model's logits
    together, and only `compute_loss` sees both (`compute_loss_func` gets the logits but not the inputs, a
    TrainerCallback gets neither); and the values must join the log before `Trainer.log` copies it into
    `log_history` and hands it to TensorBoard, which a callback's `on_log` runs too late for.
    """

    def __init__(self, *args: Any, source_names: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.source_names = source_names
        self.last_source_loss: dict[str, float] = {}  # the latest logged value of each source
        self._window: tuple[torch.Tensor, torch.Tensor] | None = None  # (sums, counts) since the last log
        self._warned_no_logits = False

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """The Trainer's loss, with `source` kept from the model and the batch's per-source sums added up."""
        source = inputs["source"]
        inputs = {k: v for k, v in inputs.items() if k != "source"}  # the model's forward takes no such argument
        # One more cross-entropy over the logits, without gradient, instead of replacing the model's own loss:
        # the Trainer's loss (and its normalization across accumulation and processes) stays exactly as it is.
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if model.training and outputs.logits is None and not self._warned_no_logits:
            # Liger's fused linear cross-entropy (liger_kernels) never materializes the logits.
            warnings.warn(
                "the model returns no logits (fused cross-entropy): loss/<source> is not logged", stacklevel=2
            )
            self._warned_no_logits = True
        if model.training and outputs.logits is not None:
            sums, counts = source_token_loss_sums(outputs.logits, inputs["labels"], source, len(self.source_names))
            if self._window is None:
                self._window = (sums, counts)
            else:
                self._window[0].add_(sums)
                self._window[1].add_(counts)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `loss/<source>` to a training log (one that has `loss`), then log as the Trainer does."""
        if "loss" in logs:  # every process logs at the same step, so the all_reduce below pairs up
            logs.update({f"loss/{name}": value for name, value in self._take_source_losses().items()})
        super().log(logs, start_time)

    def _take_source_losses(self) -> dict[str, float]:
        if self._window is None:
            n = len(self.source_names)
            device = self.args.device
            self._window = (torch.zeros(n, device=device), torch.zeros(n, dtype=torch.int64, device=device))
        sums, counts = self._window
        self._window = None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(counts)
        losses = {
            name: s / c for name, s, c in zip(self.source_names, sums.tolist(), counts.tolist(), strict=True) if c > 0
        }
        self.last_source_loss.update(losses)
        return losses
