"""ChiMed builders: turn a knowledge base (and a user's own texts) into the three training parts and two tests.

Outputs, in one directory:
    chimed_cpt.jsonl    {"text", "source"}: KG facts as sentences (several templates per relation),
                        encyclopedia paragraphs, QA pairs and dialogues flattened to text (the paper mixes QA
                        into DCPT), plus any plain text the user adds; filtered and deduplicated
    chimed_sft.jsonl    {"messages"}: instruction QA and multi-turn doctor-patient dialogues
    chimed_dpo.jsonl    {"prompt", "chosen", "rejected"}: chosen is correct and cautious, rejected names a
                        wrong department or drug, or is overconfident ("no need to see a doctor")
    cmexam_test.csv     CMExam format: Question, Options ("A xxx" per line), Answer (letters), Explanation,
    cmexam_dev.csv      plus annotation columns Type and Knowledge (held-out or seen)
    huatuo_test.jsonl   Huatuo-26M test format: {"questions", "answers"}
    index_only.jsonl    {"text", "source"}: facts for the retrieval index only (qilin.chimed.index_only)
    cmexam_index_only.csv  the exam slice about them, in CMExam format
    reading.jsonl       {"text", "source"}: other invented facts, for the SFT training index (qilin.chimed.reading)
    reading_sft.jsonl   {"messages"}: questions about them, for retrieval-aware SFT's reading practice
    build_report.json   counts, the filter report and the leakage check

No leakage: exam and QA-test items use phrasings no training template uses, and a held-out share of the
diseases never appears in SFT, DPO or the QA/dialogue text of CPT, only as knowledge sentences, so exam
accuracy on them measures what DCPT injected. `find_leaks` proves no test item appears in training text.
Everything is deterministic given the seed: same inputs, same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qilin.chimed.dedup import filter_documents, find_leaks
from qilin.chimed.index_only import build_index_only
from qilin.chimed.knowledge import Disease
from qilin.chimed.reading import build_reading
from qilin.chimed.text import (
    dpo_pairs,
    exam_questions,
    flattened_text,
    knowledge_documents,
    qa_tests,
    sft_conversations,
    short_answer_documents,
)
from qilin.durable import write_atomic
from qilin.log import get_logger

log = get_logger(__name__)

BUILDER_VERSION = 5
# --- writing -----------------------------------------------------------------------------------------


def jsonl_text(rows: Iterable[Any]) -> str:
    """JSON Lines text, one sorted-key record a line (byte-identical for the same rows)."""
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """CSV text with a header row of `columns` and Unix line ends."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def build_chimed(
    diseases: list[Disease],
    out_dir: Path,
    seed: int = 0,
    held_out_fraction: float = 0.2,
    exam_per_disease: int = 4,
    extra_text: Iterable[str] = (),
    extra_conversations: Iterable[list[dict[str, str]]] = (),
) -> dict[str, Any]:
    """Write the three ChiMed parts and the two test sets to `out_dir`; returns the build report."""
    rng = random.Random(seed)
    names = sorted(d.name for d in diseases)
    held_out = set(random.Random(seed + 1).sample(names, round(len(names) * held_out_fraction)))
    seen = [d for d in diseases if d.name not in held_out]

    conversations = sft_conversations(seen, rng) + list(extra_conversations)
    pairs = dpo_pairs(seen, diseases, rng)
    raw_docs = knowledge_documents(diseases, rng) + short_answer_documents(seen, rng) + flattened_text(conversations)
    raw_docs += [{"text": t, "source": "text"} for t in extra_text]
    docs, filter_report = filter_documents(raw_docs)
    rng.shuffle(docs)

    questions = exam_questions(diseases, diseases, held_out, rng, exam_per_disease)
    rng.shuffle(questions)
    n_dev = min(25, len(questions) // 10)
    dev, test = questions[:n_dev], questions[n_dev:]
    qa = qa_tests(diseases, rng)

    training_texts = [d["text"] for d in docs]
    training_texts += [m["content"] for c in conversations for m in c]
    training_texts += [p[k] for p in pairs for k in ("prompt", "chosen", "rejected")]
    test_items = [q["Question"] for q in questions] + [q["questions"] for q in qa]
    leaks = find_leaks(test_items, training_texts)
    if leaks:
        index, kind, match = leaks[0]
        raise ValueError(
            f"{len(leaks)} test items appear in the training text ({kind} match); first: "
            f"{test_items[index]!r} ~ {match!r}"
        )

    index_docs, index_exam, index_names = build_index_only(diseases, training_texts, seed)
    slice_questions = [row["Question"] for row in index_exam]
    reading_docs, reading_sft = build_reading(diseases, training_texts, index_names, slice_questions, seed)

    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["Question", "Options", "Answer", "Explanation", "Type", "Knowledge"]
    write_atomic(out_dir / "chimed_cpt.jsonl", jsonl_text(docs))
    write_atomic(out_dir / "chimed_sft.jsonl", jsonl_text({"messages": c} for c in conversations))
    write_atomic(out_dir / "chimed_dpo.jsonl", jsonl_text(pairs))
    write_atomic(out_dir / "cmexam_test.csv", csv_text(test, columns))
    write_atomic(out_dir / "cmexam_dev.csv", csv_text(dev, columns))
    write_atomic(out_dir / "huatuo_test.jsonl", jsonl_text(qa))
    write_atomic(out_dir / "index_only.jsonl", jsonl_text(index_docs))
    write_atomic(out_dir / "cmexam_index_only.csv", csv_text(index_exam, columns))
    write_atomic(out_dir / "reading.jsonl", jsonl_text(reading_docs))
    write_atomic(out_dir / "reading_sft.jsonl", jsonl_text(reading_sft))
    report = {
        "seed": seed,
        "builder_version": BUILDER_VERSION,
        "diseases": len(diseases),
        "held_out_diseases": sorted(held_out),
        "cpt_documents": len(docs),
        "cpt_characters": sum(len(d["text"]) for d in docs),
        "sft_conversations": len(conversations),
        "dpo_pairs": len(pairs),
        "exam_test": len(test),
        "exam_dev": len(dev),
        "exam_multi_answer": sum(len(q["Answer"]) > 1 for q in test),
        "qa_test": len(qa),
        "index_only_documents": len(index_docs),
        "index_only_exam": len(index_exam),
        "reading_documents": len(reading_docs),
        "reading_conversations": len(reading_sft),
        "filter": {"kept": filter_report.kept, "dropped": dict(filter_report.dropped)},
        "filter_summary": filter_report.summary(),
        "leaks": 0,
    }
    write_atomic(out_dir / "build_report.json", json.dumps(report, ensure_ascii=False, indent=1))
    return report
