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

from qilin.data.vision.dataset import image_pixels, vl_prompt_ids
from qilin.data.vision.formats import ChoiceQuestion, choice_prompt, read_pmcvqa
from qilin.eval.subsets import seeded_subset
from qilin.eval.tables import accuracy_by_group
from qilin.models.generation import generate_vl_texts


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


@torch.no_grad()
def evaluate_vqa(
    model: Any, tokenizer: Any, processor: Any, questions: list[ChoiceQuestion], batch_size: int = 16
) -> dict[str, Any]:
    """Accuracy by log-likelihood and by generation (overall and per type), open-ended recall/F1, and each
    question's correctness in question order (`correct`: {"loglik": [...], "generate": [...]})."""
    model.eval()
    image_token, n_img = model.config.image_token_index, model.num_image_tokens
    ll_correct, gen_correct, recalls, f1s = [], [], [], []
    types = []
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
        logprobs = F.log_softmax(
            model(input_ids=ids, pixel_values=pixels[[o[0] for o in owners]], attention_mask=mask).logits.float(), -1
        )
        scores: dict[int, dict[str, float]] = defaultdict(dict)
        for row, ((a, b), (qi, letter)) in enumerate(zip(seqs, owners, strict=True)):
            positions = torch.arange(len(a) - 1, len(a) + len(b) - 1)
            scores[qi][letter] = logprobs[row, positions, torch.tensor(b)].sum().item()
        replies = generate_vl_texts(model, tokenizer, prompt_ids, pixels, max_new_tokens=16)
        for qi, (q, reply) in enumerate(zip(batch, replies, strict=True)):
            ll_correct.append(max(scores[qi], key=scores[qi].get) == q.answer)
            gen_correct.append(closest_choice(reply, q.choices) == q.answer)
            recall, f1 = open_ended_scores(reply, q.choices[q.answer])
            recalls.append(recall)
            f1s.append(f1)
            types.append(q.annotations.get("Type", ""))

    def table(correct: list[bool]) -> dict[str, Any]:
        return accuracy_by_group(
            (ok, ["all", f"Type={t}"] if t else ["all"]) for ok, t in zip(correct, types, strict=True)
        )

    return {
        "loglik": table(ll_correct),
        "generate": table(gen_correct),
        "open_recall": round(100 * sum(recalls) / len(recalls), 2),
        "open_f1": round(100 * sum(f1s) / len(f1s), 2),
        "correct": {"loglik": ll_correct, "generate": gen_correct},
    }


def load_questions(path: str | Path, images: str | Path | None, limit: int = 0) -> list[ChoiceQuestion]:
    """PMC-VQA questions, optionally a fixed random subset."""
    path = Path(path)
    return seeded_subset(read_pmcvqa(path, Path(images) if images else path.parent), limit)
