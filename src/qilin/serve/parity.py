"""Does an endpoint serve the model we trained? A parity check of any OpenAI-compatible server against the local model.

A fixed set of conversations (single and multi-turn, with and without a system turn) is rendered with the
model's own chat template, the one its training used (`qilin.chat_templates.render_prompt`), and sent to the
endpoint as chat completions: greedy, with log-probs and token ids. The local model then reads the same token
ids (teacher forcing) and four checks compare:

- template: the endpoint's prompt token ids equal training's (vLLM and `qilin serve` return them with
  `return_token_ids`; where an endpoint does not, only the prompt's token count is compared, and said so).
- greedy agreement: at each completion position, the endpoint's token is the local model's most likely one
  (and where the endpoint ended its turn, the local model ends it too).
- log-probs: max and mean |endpoint - local| over the completion tokens, and over the prompt tokens where the
  endpoint offers prompt log-probs (`/v1/completions` with `echo`).

The verdict holds the figures against thresholds per dtype: float32 serving must match to rounding; bfloat16
(about three significant digits, different kernels) is allowed more. A different chat template breaks the first
check; another stage's weights break the last two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from qilin.chat_templates import end_of_turn_ids, render_prompt
from qilin.log import get_logger
from qilin.models.endpoint import Endpoint, NoPromptLogprobs

log = get_logger(__name__)

# Conversations of the check: fixed, so two runs and two endpoints are compared on the same tokens.
PARITY_PROMPTS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "高血压挂什么科？"}],
    [{"role": "user", "content": "糖尿病患者常见哪些症状？"}],
    [{"role": "system", "content": "你是一名医生。"}, {"role": "user", "content": "哮喘常用什么药治疗？"}],
    [
        {"role": "user", "content": "胃炎挂什么科？"},
        {"role": "assistant", "content": "胃炎应到消化内科就诊。"},
        {"role": "user", "content": "常用什么药？"},
    ],
    [
        {"role": "system", "content": "请简要回答。"},
        {"role": "user", "content": "痛风挂什么科？"},
        {"role": "assistant", "content": "痛风应到风湿免疫科就诊。"},
        {"role": "user", "content": "What are the common symptoms of gout?"},
    ],
]


@dataclass(frozen=True)
class Thresholds:
    """What parity means for one dtype."""

    agreement: float  # the least fraction of completion positions where the greedy tokens agree
    max_delta: float  # the largest |delta log-prob| allowed on one token
    mean_delta: float  # the largest mean |delta log-prob|


# float32: the same weights give the same log-probs up to kernel rounding (~1e-5 on the tiny model, 2026-12-06).
# bfloat16 keeps 8 bits of mantissa: log-probs near -5 move by a few hundredths, and near-ties may flip a greedy
# token; a different stage moves them by tenths to units (the tiny base vs its SFT: over 1).
THRESHOLDS = {
    "float32": Thresholds(agreement=0.98, max_delta=0.01, mean_delta=0.001),
    "bfloat16": Thresholds(agreement=0.9, max_delta=0.5, mean_delta=0.05),
}


@dataclass
class Check:
    """One check's outcome, its figure and what it means."""

    name: str
    passed: bool
    detail: str


@dataclass
class ParityReport:
    """The checks of one endpoint against one local model."""

    dtype: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    def failed(self, name: str) -> bool:
        """The named check ran and failed."""
        return any(c.name == name and not c.passed for c in self.checks)

    def summary(self) -> str:
        """One line per check and the verdict."""
        lines = [f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in self.checks]
        broke = [c.name for c in self.checks if not c.passed]
        verdict = "parity holds" if not broke else f"parity FAILS ({', '.join(broke)})"
        return "\n".join([*lines, f"verdict ({self.dtype} thresholds): {verdict}"])


def _completion_ids(choice: dict, tokenizer: Any) -> list[int]:
    """The endpoint's completion token ids: returned, or read from "token_id:N" log-prob tokens, or re-tokenized."""
    if choice.get("token_ids") is not None:
        return list(choice["token_ids"])
    content = (choice.get("logprobs") or {}).get("content") or []
    if content and all(t["token"].startswith("token_id:") for t in content):
        return [int(t["token"].split(":", 1)[1]) for t in content]
    return tokenizer(choice["message"]["content"], add_special_tokens=False)["input_ids"]


@torch.no_grad()
def _local_logprobs(model: Any, ids: list[int]) -> torch.Tensor:
    """(T, V) log-softmax of the next token after each position."""
    logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0]  # (T, V)
    return torch.log_softmax(logits.float(), dim=-1).cpu()


def check_parity(
    model: Any, tokenizer: Any, endpoint: Endpoint, dtype: str = "float32", max_tokens: int = 16
) -> ParityReport:
    """Compare `endpoint` with the local model on PARITY_PROMPTS; see the module's docstring for the checks."""
    limits = THRESHOLDS[dtype]
    report = ParityReport(dtype)
    eos = end_of_turn_ids(tokenizer, model.generation_config.eos_token_id)
    template_diffs, counted_only, agree, positions = [], 0, 0, 0
    deltas: list[float] = []
    prompt_deltas: list[float] = []
    prompt_logprobs_offered = True
    for i, messages in enumerate(PARITY_PROMPTS):
        ids = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
        answer = endpoint.chat(messages, max_tokens)
        served = answer.get("prompt_token_ids")
        if served is None:
            counted_only += 1
            served_count = answer["usage"]["prompt_tokens"]
            if served_count != len(ids):
                template_diffs.append(f"prompt {i}: {served_count} tokens served, {len(ids)} in training")
        elif list(served) != ids:
            at = next(
                (k for k, (a, b) in enumerate(zip(served, ids, strict=False)) if a != b), min(len(served), len(ids))
            )
            template_diffs.append(
                f"prompt {i}: first difference at token {at} (served {tokenizer.decode(served[at : at + 8])!r}, "
                f"training {tokenizer.decode(ids[at : at + 8])!r})"
            )
        choice = answer["choices"][0]
        completion = _completion_ids(choice, tokenizer)
        local = _local_logprobs(model, ids + completion)  # (T, V)
        served_lp = [t["logprob"] for t in (choice.get("logprobs") or {}).get("content") or []]
        for k, token in enumerate(completion):
            row = local[len(ids) - 1 + k]
            positions += 1
            agree += int(int(row.argmax()) == token)
            if k < len(served_lp):
                deltas.append(abs(served_lp[k] - float(row[token])))
        if choice.get("finish_reason") == "stop" and completion and completion[-1] not in eos:
            positions += 1  # the endpoint ended its turn here: does the local model?
            agree += int(int(local[len(ids) + len(completion) - 1].argmax()) in eos)
        if prompt_logprobs_offered:
            try:
                echoed = endpoint.prompt_logprobs(ids)
            except NoPromptLogprobs:
                prompt_logprobs_offered = False
            else:
                local_prompt = local[: len(ids) - 1].gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
                prompt_deltas += [abs(a - float(b)) for a, b in zip(echoed[1:], local_prompt, strict=True)]

    n = len(PARITY_PROMPTS)
    how = f" (token counts only: the endpoint returned no prompt token ids on {counted_only})" if counted_only else ""
    report.checks.append(Check(
        "template", not template_diffs,
        f"the endpoint's prompt tokens equal training's on {n - len(template_diffs)} of {n} prompts{how}"
        + (f"; {template_diffs[0]}" if template_diffs else ""),
    ))  # fmt: skip
    rate = agree / max(positions, 1)
    report.checks.append(Check(
        "greedy agreement", rate >= limits.agreement,
        f"{agree} of {positions} completion tokens are the local model's greedy choice ({rate:.3f}; "
        f"needs >= {limits.agreement})",
    ))  # fmt: skip
    all_deltas = deltas + prompt_deltas
    biggest = max(all_deltas, default=0.0)
    mean = sum(all_deltas) / max(len(all_deltas), 1)
    where = f"{len(deltas)} completion + {len(prompt_deltas)} prompt tokens"
    if not prompt_logprobs_offered:
        where += " (the endpoint offers no prompt log-probs)"
    report.checks.append(Check(
        "log-probs", bool(all_deltas) and biggest <= limits.max_delta and mean <= limits.mean_delta,
        f"max |delta log-prob| {biggest:.2g} (needs <= {limits.max_delta}), mean {mean:.2g} "
        f"(needs <= {limits.mean_delta}) over {where}",
    ))  # fmt: skip
    report.figures = {"agreement": rate, "max_delta": biggest, "mean_delta": mean, "tokens": float(len(all_deltas))}
    return report


def parity_model_type(model_dir: str) -> str:
    """The model's type from its config (the check refuses VL models)."""
    import json
    from pathlib import Path

    return json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")).get("model_type", "")


def parity_dtype(model_dir: str) -> str:
    """The thresholds for a model: its saved dtype, 16-bit ones judged as bfloat16."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    saved = str(getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32")
    return "float32" if saved.endswith("float32") else "bfloat16"


def run_parity(model_dir: str, url: str, model_name: str | None = None, api_key: str | None = None,
               dtype: str | None = None, max_tokens: int = 16) -> ParityReport:  # fmt: skip
    """Load the local model in float32 (the reference) and check the endpoint against it."""
    from qilin.config import ModelSettings
    from qilin.models.loading import for_inference, load_model, load_tokenizer

    if parity_model_type(model_dir) == "qilin_vl":
        raise ValueError(f"{model_dir} is a VL model; the parity check compares text models")
    settings = ModelSettings(path=model_dir, dtype="float32")
    tokenizer = load_tokenizer(model_dir, settings)
    model = for_inference(load_model(model_dir, settings, safetensors_only=True))
    endpoint = Endpoint(url, model_name, api_key)
    report = check_parity(model, tokenizer, endpoint, dtype or parity_dtype(model_dir), max_tokens)
    log.info(f"parity of {endpoint.model!r} at {endpoint.base} against {model_dir}:\n{report.summary()}")
    return report


def gate_on_parity(model_dir: str, url: str, model_name: str | None, api_key: str | None, allow_mismatch: bool) -> None:
    """The start-up check of `qilin serve --engine vllm|openai:URL`: refuse a backend whose template differs.

    A failed template check stops the server (ValueError) unless `allow_mismatch`, which logs it loudly; a
    failed token or log-prob check is logged as a warning (a bf16 backend may differ within reason).
    """
    report = run_parity(model_dir, url, model_name, api_key)
    if report.failed("template"):
        message = (
            f"the backend at {url} does not render prompts with {model_dir}'s training chat template:\n"
            f"{report.summary()}"
        )
        if not allow_mismatch:
            raise ValueError(message + "\n(--allow-template-mismatch starts it anyway)")
        log.warning("!" * 80 + f"\nSTARTING ANYWAY (--allow-template-mismatch): {message}\n" + "!" * 80)
    elif not report.passed:
        log.warning(f"the backend at {url} differs from {model_dir} beyond the thresholds:\n{report.summary()}")
