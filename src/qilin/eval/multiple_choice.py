"""The multiple-choice engine: exam questions (CMExam, the published MCQ layouts, the general exam), some with
several correct answers, scored by option log-likelihood or by generation.

Reads the CMExam CSV format: columns Question, Options (one option per line, "A xxx"), Answer (one or more
letters), Explanation, and any annotation columns (e.g. Type, Knowledge, or CMExam's own) by which accuracy
is also broken down.

Generation mode (for instruction-following models) asks for the answer letters after zero or more solved
examples from a dev split ("...\n答案：A"), then extracts the answer from the reply: letters after
"答案", letters at the start, or else the options whose text the reply names. Replies from which nothing
can be extracted count as wrong and are reported as extraction failures.

Log-likelihood mode (for base and DCPT models that do not follow instructions) scores each option's text as
a continuation of "{question}\\n答案：", as lm-evaluation-harness scores a multiple-choice task:
- acc: the option with the highest summed log-likelihood;
- acc_norm: the highest log-likelihood per character of option text (not biased to short options), as
  lm-evaluation-harness defines it.
A model behind an endpoint is scored the same way from the endpoint's prompt log-probs of the same token ids
(`score_options_at_endpoint`).
A multi-answer question (the exam tells candidates which questions are multiple-choice: more than one
answer letter, or `multiple` where the exam marks it so) predicts every option scoring above the mean of its
question's options, and counts as correct only on an exact set match.

Other benchmarks' layouts (CMB, MedQA, MedMCQA, ...) are read into the same `ExamQuestion` by
`qilin.eval.benchmarks` and scored by these same functions (the `mcq` benchmark, `qilin.eval.suite.mcq`);
English questions end in "Answer: " instead.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from qilin.data.records import DataError
from qilin.eval.tables import accuracy_by_group

CORE_COLUMNS = ("Question", "Options", "Answer", "Explanation")


@dataclass
class ExamQuestion:
    """One exam question."""

    question: str
    options: dict[str, str]
    answer: frozenset[str]
    explanation: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    id: str | None = None
    language: str = "zh"  # "zh" or "en": the answer cue and instruction the prompts use (ANSWER_CUES)
    multiple: bool = False  # the exam marks it multiple-choice (CMB's 多项选择题) even when one answer is right


# What the option text continues: lm-evaluation-harness's English MCQ tasks end in "Answer:" with the option
# after a space; the Chinese exams in "答案：" with no space.
ANSWER_CUES = {"zh": "答案：", "en": "Answer: "}


def is_multi(q: ExamQuestion) -> bool:
    """Whether candidates are told to pick every correct option (scored as an exact set)."""
    return q.multiple or len(q.answer) > 1


def read_cmexam(path: str | Path) -> list[ExamQuestion]:
    """Questions of a CMExam CSV; a bad row raises DataError naming its line and column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "", "file not found")
    questions = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("Question", "Options", "Answer") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(path, "line 1", f"missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        extra = [c for c in reader.fieldnames if c not in CORE_COLUMNS]
        for row in reader:
            where = f"line {reader.line_num}"
            options = {}
            for line in (row["Options"] or "").splitlines():
                line = line.strip()
                if not line:
                    continue
                letter, _, text = line.partition(" ")
                if len(letter) != 1 or not letter.isalpha() or not text.strip():
                    raise DataError(path, where, f"column 'Options': expected lines like 'A 选项', got {line!r}")
                options[letter.upper()] = text.strip()
            if len(options) < 2:
                raise DataError(path, where, "column 'Options': fewer than two options")
            answer = frozenset(c.upper() for c in (row["Answer"] or "") if c.isalpha())
            if not answer or not answer <= set(options):
                raise DataError(
                    path, where, f"column 'Answer': {row['Answer']!r} is not a set of option letters {''.join(options)}"
                )
            questions.append(
                ExamQuestion(
                    question=row["Question"].strip(),
                    options=options,
                    answer=answer,
                    explanation=(row.get("Explanation") or "").strip(),
                    annotations={
                        c: (row.get(c) or "").strip() for c in extra if c != "id" and (row.get(c) or "").strip()
                    },
                    id=(row.get("id") or "").strip() or None,
                )
            )
    if not questions:
        raise DataError(path, "", "no questions")
    return questions


def with_retrieved_passages(questions: list[ExamQuestion], retriever: Any, k: int = 3) -> list[ExamQuestion]:
    """Questions with their top-k passages in front (Qilin-Med-RAG) in `rag_prompt`'s format, the one retrieval-aware
    SFT trains and `serve --rag` uses; see `qilin.eval.retrieval`."""
    from qilin.eval.retrieval import retrieve, with_passages

    return with_passages(questions, retrieve(questions, retriever, k))


def cloze_context(q: ExamQuestion) -> str:
    """What the option text continues in log-likelihood mode."""
    return f"{q.question}\n{ANSWER_CUES[q.language]}"


@dataclass
class _Packed:
    """One question's context followed by all its options in one sequence (see `score_options`)."""

    qi: int
    ids: list[int]
    positions: list[int]
    segment: list[int]  # 0 for the context, k for the k-th option
    options: list[tuple[str, int, int, int]]  # (letter, start index, token count, length in characters)


def _pack_question(qi: int, q: ExamQuestion, tokenizer: Any) -> _Packed:
    # Tokenized as lm-evaluation-harness does: context + option encoded whole and split after the
    # context's tokens, trailing whitespace of the context moved to the option.
    context = cloze_context(q)
    stripped = context.rstrip()
    moved = context[len(stripped) :]
    ctx = tokenizer(stripped, add_special_tokens=False)["input_ids"]
    packed = _Packed(qi, list(ctx), list(range(len(ctx))), [0] * len(ctx), [])
    for k, (letter, text) in enumerate(q.options.items(), 1):
        cont = tokenizer(stripped + moved + text, add_special_tokens=False)["input_ids"][len(ctx) :]
        packed.options.append((letter, len(packed.ids), len(cont), len(text)))
        packed.ids += cont
        packed.positions += range(len(ctx), len(ctx) + len(cont))
        packed.segment += [k] * len(cont)
    return packed


@torch.no_grad()
def score_options(
    model: Any, tokenizer: Any, questions: list[ExamQuestion], batch_size: int = 32
) -> list[dict[str, tuple[float, int]]]:
    """For each question, {letter: (summed log-likelihood of the option text, its length in characters)}.

    The question is encoded once and shared by its options: one sequence holds the context and then every
    option, each option restarting its positions after the context, and a 4D attention mask lets an option
    see the context and itself only. Each option's log-likelihood is then exactly what a separate
    context + option sequence gives (a test checks this), at a fraction of the tokens: lm-evaluation-harness
    runs the context once per option.
    """
    packs = [_pack_question(qi, q, tokenizer) for qi, q in enumerate(questions)]
    packs.sort(key=lambda p: -len(p.ids))  # similar lengths per batch: less padding
    results: list[dict[str, tuple[float, int]]] = [{} for _ in questions]
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in tqdm(
        range(0, len(packs), batch_size), desc="scoring options", unit=" batches", mininterval=2, leave=False
    ):
        batch = packs[start : start + batch_size]
        width = max(len(p.ids) for p in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        segment = torch.full((len(batch), width), -1, dtype=torch.long)  # -1: padding
        for row, p in enumerate(batch):
            ids[row, : len(p.ids)] = torch.tensor(p.ids)
            positions[row, : len(p.ids)] = torch.tensor(p.positions)
            segment[row, : len(p.ids)] = torch.tensor(p.segment)
        causal = torch.ones(width, width, dtype=torch.bool).tril()  # (T, T)
        same = segment[:, :, None] == segment[:, None, :]  # (B, T, T)
        to_context = (segment[:, None, :] == 0) & (segment[:, :, None] >= 0)
        allowed = causal & (same | to_context) | torch.eye(width, dtype=torch.bool)  # a pad row sees itself
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
        logits = model(
            input_ids=ids.to(device), position_ids=positions.to(device), attention_mask=mask.to(device), use_cache=False
        ).logits.float()  # (B, T, V)
        logprobs = F.log_softmax(logits, dim=-1)
        for row, p in enumerate(batch):
            context_end = p.options[0][1]
            for letter, begin, count, nchars in p.options:
                # the first option token is predicted from the last context token, the rest from their option
                predictors = torch.tensor([context_end - 1, *range(begin, begin + count - 1)], device=logprobs.device)
                targets = ids[row, begin : begin + count].to(logprobs.device)
                results[p.qi][letter] = (logprobs[row, predictors, targets].sum().item(), nchars)
    return results


def score_options_at_endpoint(
    endpoint: Any, tokenizer: Any, questions: list[ExamQuestion]
) -> list[dict[str, tuple[float, int]]]:
    """`score_options` through an `qilin.models.endpoint.Endpoint`: each option's context + option token ids (the
    same ids, tokenized here) sent as one prompt, its log-probs read back from the endpoint's prompt log-probs.

    Raises NoPromptLogprobs when the endpoint offers none.
    """
    packs = [_pack_question(qi, q, tokenizer) for qi, q in enumerate(questions)]
    requests = []  # (question, letter, length in characters, token ids, option token count)
    for p in packs:
        context = p.ids[: p.options[0][1]]
        for letter, begin, count, nchars in p.options:
            requests.append((p.qi, letter, nchars, context + p.ids[begin : begin + count], count))
    echoed = endpoint.map(lambda r: endpoint.prompt_logprobs(r[3]), requests)
    results: list[dict[str, tuple[float, int]]] = [{} for _ in questions]
    for (qi, letter, nchars, _, count), values in zip(requests, echoed, strict=True):
        results[qi][letter] = (float(sum(values[len(values) - count :])), nchars)  # the option ends it
    return results


def predict(scores: dict[str, tuple[float, int]], multi: bool, normalize: bool) -> frozenset[str]:
    """The predicted answer set from option scores (see the module docstring for the multi-answer rule)."""
    values = {k: (ll / max(n, 1) if normalize else ll) for k, (ll, n) in scores.items()}
    best = max(values, key=values.get)  # ties go to the first option, as numpy's argmax does in lm-eval
    if not multi:
        return frozenset(best)
    mean = sum(values.values()) / len(values)
    return frozenset(k for k, v in values.items() if v > mean) or frozenset(best)


def accuracy_table(questions: list[ExamQuestion], predictions: list[frozenset[str]]) -> dict[str, Any]:
    """Accuracy overall, for single- and multi-answer questions, and per value of each annotation column."""
    return accuracy_by_group(
        (
            p == q.answer,
            ["all", "multi" if is_multi(q) else "single", *(f"{c}={v}" for c, v in q.annotations.items())],
        )
        for q, p in zip(questions, predictions, strict=True)
    )


def loglikelihood_predictions(
    model: Any, tokenizer: Any, questions: list[ExamQuestion], batch_size: int = 32
) -> dict[str, list[frozenset[str]]]:
    """The predicted answer set of every question by acc and by acc_norm (log-likelihood mode); `model` may be an
    `Endpoint` that offers prompt log-probs."""
    from qilin.models.endpoint import Endpoint

    if isinstance(model, Endpoint):
        scores = score_options_at_endpoint(model, tokenizer, questions)
    else:
        model.eval()
        scores = score_options(model, tokenizer, questions, batch_size)
    return {
        name: [predict(s, is_multi(q), normalize) for s, q in zip(scores, questions, strict=True)]
        for name, normalize in (("acc", False), ("acc_norm", True))
    }


def evaluate_loglikelihood(
    model: Any, tokenizer: Any, questions: list[ExamQuestion], batch_size: int = 32
) -> dict[str, Any]:
    """acc and acc_norm tables for a model in log-likelihood mode."""
    predictions = loglikelihood_predictions(model, tokenizer, questions, batch_size)
    return {name: accuracy_table(questions, preds) for name, preds in predictions.items()}


# --- generation mode ---------------------------------------------------------------------------------

INSTRUCTION = "以下是中国医学考试的选择题，请直接给出正确答案的选项字母；多选题给出所有正确选项。"
INSTRUCTIONS = {
    "zh": INSTRUCTION,
    "en": "The following are multiple-choice questions from medical exams. Give the letter of the correct "
    "answer; for a question with several correct answers, give every correct letter.",
}
_LETTER_RUN = r"([A-E](?:[、，,\s和与及]*[A-E])*)"


def format_question(q: ExamQuestion, with_answer: bool = False) -> str:
    """A question with its options, ending in "答案：" (and the answer letters for a solved example)."""
    options = "\n".join(f"{k} {v}" for k, v in q.options.items())
    answer = "".join(sorted(q.answer)) if with_answer else ""
    cue = ANSWER_CUES[q.language]
    return f"{q.question}\n{options}\n{cue + answer if with_answer else cue.strip()}"


def generation_prompt(q: ExamQuestion, shots: list[ExamQuestion]) -> str:
    """The user turn: instruction, solved dev examples (few-shot), then the question."""
    parts = [INSTRUCTIONS[q.language], *(format_question(s, with_answer=True) for s in shots), format_question(q)]
    return "\n\n".join(parts)


def extract_answer(text: str, options: dict[str, str]) -> frozenset[str] | None:
    """The option letters a reply gives, or None when none can be found."""
    import re

    letters = set(options)
    for pattern in (
        rf"答案\s*(?:是|为|应为|应该是)?\s*[：:]?\s*{_LETTER_RUN}",
        rf"(?i:answer)\s*(?:(?i:is)\s*)?[：:]?\s*[（(]?{_LETTER_RUN}(?![A-Za-z])",
        rf"^\s*[（(]?{_LETTER_RUN}(?![A-Za-z])",
    ):
        match = re.search(pattern, text.upper() if pattern.startswith("^") else text)
        if match:
            found = {c for c in match.group(1) if c in letters}
            if found:
                return frozenset(found)
    named = {k for k, v in options.items() if v and v in text}
    return frozenset(named) if named else None


def evaluate_generations(questions: list[ExamQuestion], replies: list[str]) -> dict[str, Any]:
    """Accuracy tables of replies, with the count of replies no answer could be extracted from."""
    predictions = [extract_answer(r, q.options) for q, r in zip(questions, replies, strict=True)]
    table = accuracy_table(questions, [p or frozenset() for p in predictions])
    failures = sum(p is None for p in predictions)
    return {
        "acc": table,
        "extraction_failures": failures,
        "extraction_failure_rate": round(100 * failures / len(questions), 2),
    }


def generate_exam_replies(
    model: Any, tokenizer: Any, questions: list[ExamQuestion], shots: list[ExamQuestion], batch_size: int = 16
) -> list[str]:
    """Replies of a model (or an `Endpoint`) to each question in generation mode, in its chat template."""
    from qilin.chat_templates import render_prompt
    from qilin.models.endpoint import Endpoint
    from qilin.models.generation import generate_texts

    if isinstance(model, Endpoint):
        return model.replies([[{"role": "user", "content": generation_prompt(q, shots)}] for q in questions], 32)
    prompts = [render_prompt(tokenizer, [{"role": "user", "content": generation_prompt(q, shots)}]) for q in questions]
    return generate_texts(model, tokenizer, prompts, max_new_tokens=32, batch_size=batch_size)


def score_exam(
    questions: list[ExamQuestion],
    subject: Any = None,
    *,
    replies: list[str] | None = None,
    mode: str = "loglik",
    shots: list[ExamQuestion] = (),
    retriever: Any = None,
    top_k: int = 3,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Accuracy tables of exam questions: of `replies` made elsewhere, or of a loaded model (`subject`: model and
    tokenizer) by option log-likelihood (acc, acc_norm) or by generation (few-shot `shots`), with the top `top_k`
    passages of `retriever` in front of each question when one is given."""
    if replies is not None:
        return evaluate_generations(questions, replies)
    if retriever is not None:
        questions = with_retrieved_passages(questions, retriever, top_k)
    if mode == "loglik":
        return evaluate_loglikelihood(subject.model, subject.tokenizer, questions, batch_size)
    replies = generate_exam_replies(subject.model, subject.tokenizer, questions, list(shots), batch_size)
    return evaluate_generations(questions, replies)
