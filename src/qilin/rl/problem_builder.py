"""Building verifiable problems: multiple-choice sources and a knowledge base in, problems with checkable answers out.

    report = build_problems([("cmexam", questions), ...], evaluation_items, out_dir)

Sources are the train splits of published exams, read by the benchmark readers (`qilin.eval.benchmarks`: CMExam,
CMB, MedQA, CMMLU, MedMCQA, generic), and the knowledge base, whose facts become single- and multi-answer items
under several phrasings (cloze stems such as "诊治{d}的科室是" and questions such as "下列哪项可用于治疗{d}？"),
the distractors being facts of other diseases that are not facts of this one. Every problem whose stem is a near
duplicate of an evaluation item (the leakage check of `qilin.chimed.dedup`) is dropped and counted per source.
Written: problems.jsonl (`qilin.rl.problems` describes the format) and problems_report.json.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qilin.chimed.dedup import find_leaks, normalize
from qilin.chimed.knowledge import Disease
from qilin.durable import write_atomic
from qilin.eval.multiple_choice import ExamQuestion
from qilin.log import get_logger
from qilin.rl.problems import LETTERS, permuted, problem_record

log = get_logger(__name__)

# Phrasings per relation: cloze stems (the answer continues "答案：") and questions. None is an exam stem
# (qilin.chimed.text.EXAM_STEMS); the leakage check drops any that comes too close to one anyway.
KB_STEMS = {
    "department": ["诊治{d}的科室是", "{d}患者一般到哪个科室就诊？"],
    "system": ["{d}所属的系统是", "{d}是哪个系统的疾病？"],
    "symptoms": ["{d}的典型症状是", "下列哪项是{d}的常见表现？"],
    "examinations": ["诊断{d}常做的检查是", "下列哪项是{d}的常用检查？"],
    "treatments": ["{d}常用的治疗是", "下列哪项可用于治疗{d}？"],
    "complications": ["{d}可能引起的并发症是", "下列哪项是{d}的并发症？"],
    "risk_factors": ["{d}的危险因素是", "下列哪项会增加{d}的发病风险？"],
    "red_flags": ["{d}患者出现下列哪种情况应立即就医？"],
}
REVERSE_STEMS = ["同时有{s1}和{s2}的患者，最可能患的是", "{s1}伴{s2}最常见于下列哪种疾病？"]
MULTI_STEMS = {"symptoms": "{d}的症状有哪些？（多选）", "treatments": "{d}可选用的治疗有哪些？（多选）"}
OPTION_COUNT = 5


def _item(stem: str, right: list[str], pool: list[str], rng: random.Random, kind: str, id_: str) -> ExamQuestion | None:
    wrong = rng.sample(pool, OPTION_COUNT - len(right)) if len(pool) >= OPTION_COUNT - len(right) else None
    if wrong is None:
        return None
    texts = right + wrong
    rng.shuffle(texts)  # the order is permuted again per sample when training (qilin.rl.problems.permuted)
    options = dict(zip(LETTERS, texts, strict=False))
    answer = frozenset(k for k, v in options.items() if v in right)
    return ExamQuestion(
        stem, options, answer, annotations={"source": "kb", "kind": kind}, id=id_, multiple=len(right) > 1
    )


def knowledge_problems(diseases: list[Disease], everyone: list[Disease], seed: int = 0) -> list[ExamQuestion]:
    """Problems from the facts of `diseases` (distractors drawn from `everyone`): every fact under every phrasing of
    its relation, a reverse item per symptom pair (findings -> disease) and a multi-answer item per list relation."""
    rng = random.Random(seed)
    values = {rel: sorted({v for o in everyone for v in o.facts(rel)}) for rel in KB_STEMS}
    problems: list[ExamQuestion] = []
    for d in diseases:
        for rel, stems in KB_STEMS.items():
            pool = [v for v in values[rel] if v not in d.facts(rel)]
            for value in d.facts(rel):
                for stem in stems:
                    q = _item(stem.format(d=d.name), [value], pool, rng, rel, f"kb-{len(problems)}")
                    problems += [q] if q else []
        names = [o.name for o in everyone if o.name != d.name]
        for s1, s2 in zip(d.symptoms, d.symptoms[1:], strict=False):
            pool = [n for n in names if not {s1, s2} & set(next(o for o in everyone if o.name == n).symptoms)]
            stem = rng.choice(REVERSE_STEMS).format(s1=s1, s2=s2)
            q = _item(stem, [d.name], pool, rng, "diagnosis", f"kb-{len(problems)}")
            problems += [q] if q else []
        for rel, stem in MULTI_STEMS.items():
            if len(d.facts(rel)) >= 3:
                right = rng.sample(d.facts(rel), rng.choice([2, 3]))
                pool = [v for v in values[rel] if v not in d.facts(rel)]
                q = _item(stem.format(d=d.name), right, pool, rng, f"multi_{rel}", f"kb-{len(problems)}")
                problems += [q] if q else []
    return problems


def drop_evaluation_items(
    problems: list[ExamQuestion], evaluation_items: Iterable[str], threshold: float = 0.7
) -> tuple[list[ExamQuestion], list[tuple[ExamQuestion, str, str]]]:
    """(kept, dropped): a problem is dropped when its stem is an evaluation item's near duplicate or contained in one.

    `find_leaks` asks whether a stem (normalized) is a substring of an evaluation item or shares >= `threshold`
    of its character 5-grams with one of its sentences; an evaluation item inside a longer stem is caught too.
    """
    items = [t for t in evaluation_items if normalize(t)]
    hits = {i: (kind, match) for i, kind, match in find_leaks([q.question for q in problems], items, threshold)}
    joined = "\u0000".join(normalize(q.question) for q in problems)
    for item in items:  # the other direction: an evaluation item quoted inside a longer problem stem
        start = joined.find(normalize(item))
        while start >= 0:
            hits.setdefault(joined.count("\u0000", 0, start), ("contains", item[:120]))
            start = joined.find(normalize(item), start + 1)
    kept = [q for i, q in enumerate(problems) if i not in hits]
    dropped = [(problems[i], *hits[i]) for i in sorted(hits)]
    return kept, dropped


def build_problems(
    sources: list[tuple[str, list[ExamQuestion]]], evaluation_items: list[str], out_dir: Path
) -> dict[str, Any]:
    """Write problems.jsonl and problems_report.json to `out_dir`: every source's problems, evaluation items dropped."""
    problems, seen = [], set()
    exact = Counter()
    for name, questions in sources:
        for q in questions:
            key = (normalize(q.question), tuple(sorted(q.options.values())))
            if key in seen:  # the same problem from two sources (or phrasings) trains once
                exact[name] += 1
                continue
            seen.add(key)
            problems.append((name, q))
    kept, dropped = drop_evaluation_items([q for _, q in problems], evaluation_items)
    source_of = {id(q): name for name, q in problems}
    dropped_by = Counter(source_of[id(q)] for q, _, _ in dropped)
    kept_by = Counter(source_of[id(q)] for q in kept)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [{**problem_record(q), "source": q.annotations.get("source", source_of[id(q)])} for q in kept]
    write_atomic(out_dir / "problems.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    report = {
        "problems": len(kept),
        "multi_answer": sum(len(q.answer) > 1 or q.multiple for q in kept),
        "evaluation_items": len(evaluation_items),
        "per_source": {
            name: {"kept": kept_by[name], "near_duplicate_of_evaluation": dropped_by[name], "repeated": exact[name]}
            for name, _ in sources
        },
        "dropped_examples": [
            {"problem": q.question, "match": kind, "evaluation_item": m} for q, kind, m in dropped[:5]
        ],
    }
    write_atomic(out_dir / "problems_report.json", json.dumps(report, ensure_ascii=False, indent=1))
    for name, counts in report["per_source"].items():
        log.info(
            f"problems from {name}: {counts['kept']} kept, {counts['near_duplicate_of_evaluation']} dropped as "
            f"near duplicates of evaluation items, {counts['repeated']} repeated"
        )
    return report


EMBEDDED_PROBLEMS = "problems.jsonl"
EMBEDDED_FORMAT_SFT = "exam_format_sft.jsonl"
# Problems set aside (before GRPO sees any) to teach the exam's answer format in SFT: enough for a 2M-parameter
# model to answer an exam turn with an option rather than free text, few enough to cost SFT about half a minute.
FORMAT_SFT_PROBLEMS = 500


def exam_format_conversation(q: ExamQuestion) -> dict[str, Any]:
    """An SFT conversation that answers a problem in the exam's generation format: the exam turn (instruction,
    stem, options, "答案："), and a reply naming the right options' text, which the answer extraction reads. Text,
    not letters: the demo's small model cannot tie a letter to its knowledge (taught letters, it answers the exam at
    chance and its option log-likelihood falls), while the option's text is what it knows."""
    from qilin.eval.multiple_choice import generation_prompt

    reply = "、".join(q.options[k] for k in sorted(q.answer))
    return {
        "messages": [{"role": "user", "content": generation_prompt(q, [])}, {"role": "assistant", "content": reply}]
    }


def split_format_sft(problems_path: Path, out: Path, count: int = FORMAT_SFT_PROBLEMS, seed: int = 0) -> int:
    """Move a seeded `count` of the problems in `problems_path` into SFT conversations at `out` (exam format), so
    that the problems GRPO trains on and those SFT answered are disjoint; returns how many moved."""
    lines = problems_path.read_text(encoding="utf-8").splitlines(keepends=True)
    chosen = set(random.Random(seed).sample(range(len(lines)), min(count, len(lines) - 1)))
    # options permuted with the right answer's position balanced, as GRPO does, so SFT teaches no letter habit
    taught = permuted([read_problems_from_lines(lines[i]) for i in sorted(chosen)], seed)
    rows = [json.dumps(exam_format_conversation(q), ensure_ascii=False) + "\n" for q in taught]
    write_atomic(out, "".join(rows))
    write_atomic(problems_path, "".join(line for i, line in enumerate(lines) if i not in chosen))
    return len(rows)


def read_problems_from_lines(line: str) -> ExamQuestion:
    """One problem record (a JSONL line of problems.jsonl) as an ExamQuestion."""
    obj = json.loads(line)
    return ExamQuestion(
        obj["question"],
        obj["options"],
        frozenset(obj["answer"]),
        annotations={k: obj[k] for k in ("source", "kind") if k in obj},
        id=obj.get("id"),
        language=obj.get("language", "zh"),
        multiple=bool(obj.get("multiple", False)),
    )


def build_embedded_problems(chimed_dir: Path, paths: dict[str, Path], out_dir: Path) -> dict[str, Path]:
    """The demo's problems: the bundled knowledge of the diseases its training text covers (the held-out diseases of
    the exam are left out, so their slice tells whether a gain reaches knowledge no problem asked about), every
    stem checked against the exam and QA test items; never built from the held-out exam itself. Returns the paths
    of its two parts: 'problems' (GRPO's) and 'problems-sft' (a disjoint few as exam-format SFT conversations)."""
    import csv

    from qilin.chimed.knowledge import load_kb

    everyone = load_kb()
    held_out = set(json.loads((chimed_dir / "build_report.json").read_text(encoding="utf-8"))["held_out_diseases"])
    stamp = out_dir / "problems.stamp"
    key = "|".join(sorted(held_out)) + (chimed_dir / "embedded.stamp").read_text() + f"|sft {FORMAT_SFT_PROBLEMS} text"
    parts = {"problems": out_dir / EMBEDDED_PROBLEMS, "problems-sft": out_dir / EMBEDDED_FORMAT_SFT}
    if all(p.exists() for p in parts.values()) and stamp.exists() and stamp.read_text() == key:
        return parts
    items = []
    for part in ("cmexam", "cmexam-dev"):
        with paths[part].open(encoding="utf-8", newline="") as f:
            items += [row["Question"] for row in csv.DictReader(f)]
    items += [json.loads(line)["questions"] for line in paths["huatuo"].read_text(encoding="utf-8").splitlines()]
    seen = [d for d in everyone if d.name not in held_out]
    build_problems([("kb", knowledge_problems(seen, everyone))], items, out_dir)
    taught = split_format_sft(parts["problems"], parts["problems-sft"])
    report_path = out_dir / "problems_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report.update(problems=report["problems"] - taught, taught_in_sft=taught)
    write_atomic(report_path, json.dumps(report, ensure_ascii=False, indent=1))
    write_atomic(stamp, key)
    return parts
