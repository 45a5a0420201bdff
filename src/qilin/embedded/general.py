"""The bundled general-knowledge corpus and exam: what the embedded base learns before DCPT, to measure forgetting.

Built from a small fact table written for Qilin (qilin/resources/general/facts.json: capitals, continents,
provincial capitals, animal classes, element symbols, SI units) plus the multiplication and addition tables,
computed here. Outputs, in one directory:

    general.jsonl       {"text", "source": "general"}: every fact under each of its relation's statement phrasings
                        ("中国的首都是北京。", "北京是中国的首都。"), shuffled into short documents, and once as a
                        short-answer document per question phrasing ("中国的首都叫什么？\n答案：北京")
    general_exam.csv    CMExam layout, one 5-option question per fact, in a phrasing no training text uses
                        ("哪座城市是中国的首都？"); annotation columns Type (relation) and Domain

The exam is scored like CMExam (`qilin.eval.multiple_choice`); distractors are values of the same relation that are not
true of the subject (for arithmetic, the nearest other results). Deterministic given the seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

from qilin.chimed.build import csv_text, jsonl_text
from qilin.chimed.dedup import find_leaks
from qilin.durable import write_atomic
from qilin.log import get_logger

log = get_logger(__name__)

BUILDER_VERSION = 1
LETTERS = "ABCDE"
SOURCE = "general"  # the source name CPT logs as loss/general (a file's stem names its source)
GENERAL_PARTS = {"general": "general.jsonl", "general-exam": "general_exam.csv"}
_SENTENCES_PER_DOCUMENT = 6


def bundled_facts_path() -> Path:
    """Path of the bundled general fact table."""
    return Path(str(resources.files("qilin") / "resources" / "general" / "facts.json"))


def general_facts(table: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fact as {relation, domain, fields}: the table's [subject, value] rows and the computed arithmetic."""
    facts = []
    for relation, rows in table["facts"].items():
        for subject, value in rows:
            facts.append({"relation": relation, "fields": {"s": subject, "x": value}})
    spans = table["arithmetic"]
    for relation, op in (("multiplication", lambda a, b: a * b), ("addition", lambda a, b: a + b)):
        low, high = spans[relation]["from"], spans[relation]["to"]
        for a in range(low, high + 1):
            for b in range(a, high + 1):
                facts.append({"relation": relation, "fields": {"a": a, "b": b, "x": op(a, b)}})
    for fact in facts:
        fact["domain"] = table["relations"][fact["relation"]]["domain"]
    return facts


def _distractors(fact: dict[str, Any], facts: list[dict[str, Any]], rng: random.Random) -> list[str]:
    """Four wrong options: values of the same relation the subject does not have."""
    same = [f for f in facts if f["relation"] == fact["relation"]]
    correct = fact["fields"]["x"]  # the table gives each subject one value per relation
    pool = sorted({f["fields"]["x"] for f in same} - {correct}, key=str)
    if isinstance(correct, int):  # nearby results: a wrong sum or product is close to the right one
        pool = sorted(pool, key=lambda v: (abs(v - correct), v))[:8]
    return [str(v) for v in rng.sample(pool, 4)]


def general_documents(table: dict[str, Any], facts: list[dict[str, Any]], rng: random.Random) -> list[dict]:
    """Every fact under every statement phrasing of its relation, shuffled into documents of a few sentences, and
    as a short-answer document ("...？\n答案：x", the form the exam is scored in) under each question phrasing."""
    sentences = [t.format(**f["fields"]) for f in facts for t in table["relations"][f["relation"]]["train"]]
    rng.shuffle(sentences)
    step = _SENTENCES_PER_DOCUMENT
    docs = ["".join(sentences[i : i + step]) for i in range(0, len(sentences), step)]
    for f in facts:
        for question in table["relations"][f["relation"]]["questions"]:
            docs.append(f"{question.format(**f['fields'])}\n答案：{f['fields']['x']}")
    rng.shuffle(docs)
    return [{"text": text, "source": SOURCE} for text in docs]


def general_exam(table: dict[str, Any], facts: list[dict[str, Any]], rng: random.Random) -> list[dict[str, str]]:
    """One 5-option question per fact in the relation's exam phrasing, in CMExam's columns plus Type and Domain."""
    questions = []
    for fact in facts:
        relation = table["relations"][fact["relation"]]
        correct = str(fact["fields"]["x"])
        options = [correct, *_distractors(fact, facts, rng)]
        rng.shuffle(options)
        questions.append(
            {
                "Question": relation["exam"].format(**fact["fields"]),
                "Options": "\n".join(f"{LETTERS[i]} {o}" for i, o in enumerate(options)),
                "Answer": LETTERS[options.index(correct)],
                "Explanation": relation["train"][0].format(**fact["fields"]),
                "Type": fact["relation"],
                "Domain": fact["domain"],
            }
        )
    rng.shuffle(questions)
    return questions


def build_general(table: dict[str, Any], out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Write the general corpus and exam to `out_dir`; refuses an exam question that training text contains."""
    rng = random.Random(seed)
    facts = general_facts(table)
    docs = general_documents(table, facts, rng)
    exam = general_exam(table, facts, rng)
    leaks = find_leaks([q["Question"] for q in exam], [d["text"] for d in docs])
    if leaks:
        index, kind, match = leaks[0]
        raise ValueError(
            f"{len(leaks)} general exam questions appear in the corpus ({kind}): {exam[index]!r} ~ {match!r}"
        )
    columns = ["Question", "Options", "Answer", "Explanation", "Type", "Domain"]
    write_atomic(out_dir / GENERAL_PARTS["general"], jsonl_text(docs))
    write_atomic(out_dir / GENERAL_PARTS["general-exam"], csv_text(exam, columns))
    return {
        "facts": len(facts),
        "documents": len(docs),
        "exam": len(exam),
        "characters": sum(len(d["text"]) for d in docs),
    }


def build_embedded_general(out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """The bundled general corpus and exam, built once into `out_dir` and reused while the table and seed hold."""
    raw = bundled_facts_path().read_bytes()
    stamp = hashlib.sha256(raw).hexdigest()[:16] + f"-{seed}-{BUILDER_VERSION}"
    stamp_file = out_dir / "general.stamp"
    paths = {part: out_dir / name for part, name in GENERAL_PARTS.items()}
    if not (stamp_file.exists() and stamp_file.read_text() == stamp and all(p.exists() for p in paths.values())):
        report = build_general(json.loads(raw), out_dir, seed)
        log.info(
            f"general corpus: {report['facts']} facts, {report['documents']} documents, {report['exam']} questions"
        )
        write_atomic(stamp_file, stamp)
    return paths
