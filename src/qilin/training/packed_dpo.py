"""Packed, shared-prefix DPO: trl's DPOTrainer fed rows in which each prompt runs once.

trl 1.16 disabled its padding-free DPO (PR #7014) and LLaMA-Factory has none, so every pair is two padded rows and
every prompt is computed twice. We keep all of trl that does not depend on the layout (tokenization with its
prompt/answer split, EOS and `max_length` rules and the pairs it drops, the fused LM head that scores labels without
materialising logits, precomputed reference columns, the PEFT reference as the adapter-disabled policy) and replace
the collator, the forward that turns a batch into per-pair log-probs, and the loss normalisation:

- attention: a branch sees its pair's shared prompt and itself, nothing else. SDPA takes it as a 4D boolean mask,
  eager as an additive float mask, flex_attention (CUDA) as a block mask whose empty blocks it skips;
  FlashAttention-2 cannot express it, and remote-code models (Baichuan) bring their own attention that may ignore a
  4D mask, and a sliding-window model (Mistral, Gemma-2/3, Phi-3, Qwen2 with `use_sliding_window`) would lose its
  window to the 4D mask (transformers uses a given 4D mask as it is for every layer): `packing_unavailable` says so
  and the stage keeps trl's padded layout.
- loss: trl's sigmoid DPO loss per pair (`sigmoid_dpo_loss`), summed and divided by the pairs of the whole
  optimizer step across processes, so 2 processes with unequal pairs equal 1 process holding them all.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import use_adapter

from qilin.data.preference.packing import CHOSEN, PAD_PAIR, REJECTED, SHARED
from qilin.training.reference_cache import CachedReferenceDPOTrainer

DENSE_MASK_KERNELS = ("sdpa", "eager")
PACKING_KERNELS = (*DENSE_MASK_KERNELS, "flex_attention")


def sliding_window_of(model_config: Any) -> int | None:
    """The attention window of a model that uses one in any layer (None: every layer attends to all it may)."""
    window = getattr(model_config, "sliding_window", None)
    if not window or getattr(model_config, "use_sliding_window", True) is False:
        return None
    layer_types = getattr(model_config, "layer_types", None)
    if layer_types is not None and "sliding_attention" not in layer_types:
        return None  # Qwen2 keeps a sliding_window value with every layer on full attention
    return int(window)


def packing_unavailable(model_config: Any, trust_remote_code: bool, longest: int | None = None) -> str | None:
    """Why packed DPO cannot run on this model (None: it can); `longest`: the most tokens a pair's sequence may hold.

    A window at least as long as the longest pair never masks anything, so such a model packs as Llama does.
    """
    if trust_remote_code or getattr(model_config, "auto_map", None):
        return "the model brings its own attention code (trust_remote_code), which may ignore a 4D branch mask"
    window = sliding_window_of(model_config)
    if window is not None and (longest is None or window < longest):
        return (
            f"the model attends within a sliding window of {window} tokens, shorter than the longest pair "
            f"({longest if longest is not None else 'unbounded'} tokens): the branch mask would replace its window"
        )
    kernel = getattr(model_config, "_attn_implementation", None)
    if kernel not in PACKING_KERNELS:
        return (
            f"attention kernel {kernel!r} cannot take a branch mask (FlashAttention-2 runs only causal "
            f"variable-length sequences); use one of {', '.join(PACKING_KERNELS)}"
        )
    return None


def branch_attention_allowed(pair_ids: torch.Tensor, branch_ids: torch.Tensor) -> torch.Tensor:
    """(R, L, L) bool, True where query q may attend to key k: same pair, k <= q, and k shared or in q's branch.

    Padding (pair -1) attends only to itself, so no query row is fully masked (SDPA returns NaN for one).
    """
    length = pair_ids.shape[1]
    index = torch.arange(length, device=pair_ids.device)
    causal = index[:, None] >= index[None, :]  # (L, L)
    same_pair = pair_ids[:, :, None] == pair_ids[:, None, :]  # (R, L, L)
    key_branch, query_branch = branch_ids[:, None, :], branch_ids[:, :, None]
    visible = (key_branch == SHARED) | (key_branch == query_branch)
    real = (pair_ids != PAD_PAIR)[:, :, None]
    return (same_pair & causal & visible & real) | torch.eye(length, dtype=torch.bool, device=pair_ids.device)


def attention_mask_for(kernel: str, pair_ids: torch.Tensor, branch_ids: torch.Tensor, dtype: torch.dtype) -> Any:
    """The branch mask in the form `kernel` takes (see the module docstring)."""
    if kernel == "flex_attention":
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b: Any, h: Any, q: Any, k: Any) -> Any:
            same_pair = pair_ids[b, q] == pair_ids[b, k]
            visible = (branch_ids[b, k] == SHARED) | (branch_ids[b, k] == branch_ids[b, q])
            return (same_pair & visible & (k <= q) & (pair_ids[b, q] != PAD_PAIR)) | (q == k)

        rows, length = pair_ids.shape
        return create_block_mask(mask_mod, rows, None, length, length, device=pair_ids.device)
    allowed = branch_attention_allowed(pair_ids, branch_ids)[:, None]  # (R, 1, L, L)
    if kernel == "eager":
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
            ~allowed, torch.finfo(dtype).min
        )
    return allowed


def sigmoid_dpo_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float
) -> torch.Tensor:
    """Per-pair DPO loss, -log sigmoid(beta * (chosen - ref_chosen - (rejected - ref_rejected))) (Rafailov et al.
    2023, eq. 7; trl's loss_type 'sigmoid')."""
    return -F.logsigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))


def pair_logps(per_token: torch.Tensor, label_pairs: torch.Tensor, label_branches: torch.Tensor, pairs: int) -> tuple:
    """Chosen and rejected log-probs (P,) each: per-token log-probs (R, L) summed over each pair's branch labels."""
    sums = []
    for branch in (CHOSEN, REJECTED):
        selected = label_branches == branch
        sums.append(per_token.new_zeros(pairs).index_add(0, label_pairs[selected], per_token[selected]))
    return sums[0], sums[1]


class PackedDPOMixin:
    """Mixed in before trl's DPOTrainer (or Qilin's cached-reference subclass of it): packed forward and loss."""

    # compute_loss divides by the pairs of the whole optimizer step, so the Trainer must not divide by the
    # accumulation steps again.
    loss_is_scaled_for_ga = True

    def _branch_logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.accelerator.unwrap_model(self.model).config
        kernel = config._attn_implementation
        dtype = next(model.parameters()).dtype
        mask = attention_mask_for(kernel, inputs["pair_ids"], inputs["branch_ids"], dtype)
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=mask,
            position_ids=inputs["position_ids"],
            shift_labels=inputs["shift_labels"],
            fused_lm_head=True,
            use_cache=False,
        )
        pairs = int(inputs["pair_ids"].max()) + 1
        return pair_logps(outputs.log_probs, inputs["label_pairs"], inputs["label_branches"], pairs)

    def _reference_context(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs))
        if self.ref_model is None and hasattr(self.accelerator.unwrap_model(self.model), "peft_config"):
            unwrapped = self.accelerator.unwrap_model(self.model)
            stack.enter_context(use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None))
        return stack

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference log-probs of a packed batch (trl's precompute loop calls this)."""
        with self._reference_context(), self.accelerator.autocast():
            return self._branch_logps(model, inputs)

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor:
        # Pairs in the optimizer step on every process: the loss denominator (see compute_loss).
        pairs = torch.tensor(sum(int(b["pair_ids"].max()) + 1 for b in batch_samples), device=device)
        return self.accelerator.gather(pairs).sum() if self.accelerator.num_processes > 1 else pairs

    def compute_loss(
        self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """Sum of per-pair losses over the step's pairs on all processes (the mean of one batch when evaluating)."""
        chosen, rejected = self._branch_logps(model, inputs)
        if "ref_chosen_logps" in inputs:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            with self._reference_context():
                ref_chosen, ref_rejected = self._branch_logps(self.ref_model or model, inputs)
        losses = sigmoid_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, self.beta)
        if num_items_in_batch is None:
            loss = losses.mean()
        else:
            # DDP averages gradients over processes: scale back to a sum, divided by every process's pairs.
            loss = losses.sum() * self.accelerator.num_processes / num_items_in_batch
        self._log_pair_metrics(inputs, chosen, rejected, ref_chosen, ref_rejected)
        if return_outputs:
            return loss, {"chosen_logps": chosen, "rejected_logps": rejected}
        return loss

    def _log_pair_metrics(self, inputs: dict, chosen: Any, rejected: Any, ref_chosen: Any, ref_rejected: Any) -> None:
        """trl's metric names, so logs, TensorBoard and the stage's reward accuracy read the same either way."""
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather
        chosen_rewards = self.beta * (chosen - ref_chosen).detach()
        rejected_rewards = self.beta * (rejected - ref_rejected).detach()
        metrics = self._metrics[mode]
        metrics["rewards/chosen"].append(gather(chosen_rewards).mean().item())
        metrics["rewards/rejected"].append(gather(rejected_rewards).mean().item())
        metrics["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()).mean().item())
        metrics["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
        metrics["logps/chosen"].append(gather(chosen.detach()).mean().item())
        metrics["logps/rejected"].append(gather(rejected.detach()).mean().item())
        if mode == "train":
            self._total_train_tokens += gather((inputs["pair_ids"] != PAD_PAIR).sum()).sum().item()
        metrics["num_tokens"] = [self._total_train_tokens]


class PackedDPOTrainer(PackedDPOMixin, DPOTrainer):
    """trl's DPOTrainer on packed rows, scoring the reference each step."""


class PackedCachedDPOTrainer(PackedDPOMixin, CachedReferenceDPOTrainer):
    """trl's DPOTrainer on packed rows, with the reference log-probs scored once and cached on disk."""
