"""The index-only slice: facts the retrieval index holds and no training corpus does, and the exam about them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.chimed.build import build_chimed
from qilin.chimed.dedup import find_leaks, normalize
from qilin.chimed.index_only import INDEX_ONLY_DISEASES, build_index_only
from qilin.chimed.knowledge import load_kb
from qilin.data.text.formats import iter_file
from qilin.embedded.general import build_embedded_general
from qilin.eval.multiple_choice import read_cmexam


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo's ChiMed build (the whole bundled knowledge base) and every text any demo stage trains on."""
    out = tmp_path_factory.mktemp("chimed")
    kb = load_kb()
    build_chimed(kb, out, seed=0)
    general = build_embedded_general(tmp_path_factory.mktemp("general"))["general"]
    training = [t["text"] for t in map(json.loads, (out / "chimed_cpt.jsonl").read_text("utf-8").splitlines())]
    training += [m["content"] for path in ("chimed_sft.jsonl",) for c in iter_file(out / path, "sft") for m in c]
    training += [
        p[k] if isinstance(p[k], str) else p[k][0]["content"]
        for p in iter_file(out / "chimed_dpo.jsonl", "dpo")
        for k in ("prompt", "chosen", "rejected")
    ]
    training += list(iter_file(general, "cpt"))
    return {"out": out, "kb": kb, "training": training}


def _index_docs(out: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (out / "index_only.jsonl").read_text("utf-8").splitlines()]


def test_no_index_only_fact_appears_in_any_training_corpus(demo: dict) -> None:
    docs, exam, names = build_index_only(demo["kb"], demo["training"], seed=0)
    assert [d["text"] for d in docs] == _index_docs(demo["out"])  # what the builder wrote
    joined = "\u0000".join(normalize(t) for t in demo["training"])
    assert len(names) >= INDEX_ONLY_DISEASES * 3 and not [n for n in names if normalize(n) in joined]
    assert find_leaks([row["Question"] for row in exam], demo["training"]) == []
    for name in names:  # and each is in the index, where retrieval finds it
        assert any(name in text for text in _index_docs(demo["out"])), name


def test_every_index_only_question_is_answered_by_an_index_passage(demo: dict) -> None:
    questions = read_cmexam(demo["out"] / "cmexam_index_only.csv")
    docs = [normalize(t) for t in _index_docs(demo["out"])]
    assert len(questions) >= 120 and {q.annotations["Knowledge"] for q in questions} == {"index-only"}
    assert {q.annotations["Type"] for q in questions} >= {"department", "treatments", "guideline"}
    for q in questions:
        subject = next(t for t in docs if any(normalize(q.options[a]) in t for a in q.answer))
        assert subject, q.question
    index_values = "\u0000".join(docs)
    drugs = [q for q in questions if q.annotations["Type"] in ("treatments", "guideline")]
    for q in drugs:  # every drug option is an index-only drug: without the index, nothing tells them apart
        assert all(normalize(o) in index_values for o in q.options.values())
