"""PMC-VQA-style evaluation of a VL model: multiple choice by option log-likelihood and by generation.

- Log-likelihood: each choice's text scored as the answer to "<image> question + listed choices", rendered
  with the model's chat template; the highest summed log-likelihood wins.
- Generation: the model answers freely; the answer is mapped to the most similar choice (difflib ratio of
  the reply to each choice text, the letter counting when the reply is just a letter), as the PMC-VQA
  authors' evaluation maps generations to choices.
- Open-ended answers (VQA-RAD/SLAKE style, as LLaVA-Med scores them): token recall, the share of the
  reference's tokens (characters for Chinese) found in the reply, and token F1.
Accuracy is reported overall and per question type (a `Type` column).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from qilin.chat_templates import IMAGE_TOKEN
from qilin.data.vision.dataset import image_pixels, vl_prompt_ids
from qilin.data.vision.formats import ChoiceQuestion, choice_prompt, read_pmcvqa
from qilin.data.vision.images import image_data_url, load_image
from qilin.eval.subsets import seeded_subset
from qilin.eval.tables import accuracy_by_group
from qilin.models.generation import generate_vl_texts

VQA_REPLY_TOKENS = 16  # a choice's text, or its letter: PMC-VQA's answers are short


def closest_choice(reply: str, choices: dict[str, str]) -> str:
    """The letter of the choice most similar to a generated reply."""
    stripped = reply.strip().rstrip("。.").upper()
    if stripped in choices:
        return stripped
    ratios = {k: difflib.SequenceMatcher(None, reply, v).ratio() for k, v in choices.items()}
    return max(ratios, key=ratios.get)


def _tokens(text: str) -> list[str]:
    return (
        [c for c in text if not c.isspace()] if any("\u4e00" <= c <= "\u9fff" for c in text) else text.lower().split()
    )


def open_ended_scores(reply: str, reference: str) -> tuple[float, float]:
    """(recall, F1) of reply tokens against reference tokens (LLaVA-Med's open-question metric)."""
    pred, ref = set(_tokens(reply)), set(_tokens(reference))
    if not ref:
        return 0.0, 0.0
    hit = len(pred & ref)
    recall = hit / len(ref)
    precision = hit / len(pred) if pred else 0.0
    return recall, (2 * precision * recall / (precision + recall) if hit else 0.0)


def endpoint_messages(q: ChoiceQuestion) -> list[dict[str, Any]]:
    """A question as an OpenAI chat request: its image as a PNG data URL part, then the text of `choice_prompt`."""
    # Without `<image>`: the endpoint places the image itself (`qilin serve` first in the turn, as with_image_token
    # does in training, which gives back choice_prompt's very text).
    text = choice_prompt(q).removeprefix(f"{IMAGE_TOKEN}\n")
    parts = [
        {"type": "image_url", "image_url": {"url": image_data_url(load_image(q.image))}},
        {"type": "text", "text": text},
    ]
    return [{"role": "user", "content": parts}]


@torch.no_grad()
def evaluate_vqa(
    model: Any, tokenizer: Any, processor: Any, questions: list[ChoiceQuestion], batch_size: int = 16
) -> dict[str, Any]:
    """Accuracy by log-likelihood and by generation (overall and per type), open-ended recall/F1, and each
    question's correctness in question order (`correct`: {"loglik": [...], "generate": [...]}).

    `model` may be an `Endpoint` serving a VL model: replies only (OpenAI's API gives no log-probs of a prompt with
    an image), so the result has no "loglik".
    """
    from qilin.models.endpoint import Endpoint

    if isinstance(model, Endpoint):
        return _vqa_tables(questions, model.replies([endpoint_messages(q) for q in questions], VQA_REPLY_TOKENS))
    model.eval()
    image_token, n_img = model.config.image_token_index, model.num_image_tokens
    ll_correct, replies = [], []
    for start in range(0, len(questions), batch_size):
        batch = questions[start : start + batch_size]
        pixels = image_pixels(processor, [q.image for q in batch])  # (N, C, H, W)
        prompt_ids = [
            vl_prompt_ids(tokenizer, [{"role": "user", "content": choice_prompt(q)}], image_token, n_img) for q in batch
        ]
        # log-likelihood of every choice: one sequence per (question, choice)
        seqs, owners = [], []
        for qi, (q, ids) in enumerate(zip(batch, prompt_ids, strict=True)):
            for letter, text in q.choices.items():
                cont = tokenizer(text, add_special_tokens=False)["input_ids"]
                seqs.append((ids, cont))
                owners.append((qi, letter))
        width = max(len(a) + len(b) for a, b in seqs)
        pad = tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, (a, b) in enumerate(seqs):
            ids[row, : len(a) + len(b)] = torch.tensor(a + b)
            mask[row, : len(a) + len(b)] = 1
        device = next(model.parameters()).device
        logits = model(
            input_ids=ids.to(device),
            pixel_values=pixels[[o[0] for o in owners]].to(device),
            attention_mask=mask.to(device),
        ).logits
        logprobs = F.log_softmax(logits.float(), -1).cpu()
        scores: dict[int, dict[str, float]] = defaultdict(dict)
        for row, ((a, b), (qi, letter)) in enumerate(zip(seqs, owners, strict=True)):
            positions = torch.arange(len(a) - 1, len(a) + len(b) - 1)
            scores[qi][letter] = logprobs[row, positions, torch.tensor(b)].sum().item()
        ll_correct += [max(scores[qi], key=scores[qi].get) == q.answer for qi, q in enumerate(batch)]
        replies += generate_vl_texts(model, tokenizer, prompt_ids, pixels, max_new_tokens=VQA_REPLY_TOKENS)
    return _vqa_tables(questions, replies, ll_correct)


def _vqa_tables(questions: list[ChoiceQuestion], replies: list[str], ll_correct: list[bool] | None = None) -> dict:
    """The tables of `evaluate_vqa` from the replies (and the log-likelihood outcomes where there are some)."""
    gen_correct = [closest_choice(r, q.choices) == q.answer for q, r in zip(questions, replies, strict=True)]
    opens = [open_ended_scores(r, q.choices[q.answer]) for q, r in zip(questions, replies, strict=True)]
    types = [q.annotations.get("Type", "") for q in questions]

    def table(correct: list[bool]) -> dict[str, Any]:
        return accuracy_by_group(
            (ok, ["all", f"Type={t}"] if t else ["all"]) for ok, t in zip(correct, types, strict=True)
        )

    result = {"loglik": table(ll_correct)} if ll_correct is not None else {}
    return result | {
        "generate": table(gen_correct),
        "open_recall": round(100 * sum(r for r, _ in opens) / len(opens), 2),
        "open_f1": round(100 * sum(f for _, f in opens) / len(opens), 2),
        "correct": {"generate": gen_correct} | ({"loglik": ll_correct} if ll_correct is not None else {}),
    }


def load_questions(path: str | Path, images: str | Path | None, limit: int = 0) -> list[ChoiceQuestion]:
    """PMC-VQA questions, optionally a fixed random subset."""
    path = Path(path)
    return seeded_subset(read_pmcvqa(path, Path(images) if images else path.parent), limit)
