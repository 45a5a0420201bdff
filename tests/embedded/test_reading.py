"""Reading practice for retrieval-aware SFT: invented facts that share no name and no question with the
index-only slice, each question answered by a passage of the reading documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qilin.chimed.build import build_chimed
from qilin.chimed.dedup import normalize
from qilin.chimed.index_only import _NAME_HEADS
from qilin.chimed.knowledge import load_kb
from qilin.chimed.reading import READING_DISEASES, READING_HEADS, build_reading
from qilin.data.text.formats import iter_file


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chimed")
    build_chimed(load_kb(), out, seed=0)
    return out


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]


def test_reading_names_share_no_syllable_or_name_with_the_index_only_slice(built: Path) -> None:
    assert not set(READING_HEADS) & set(_NAME_HEADS)
    slice_text = normalize("".join(_texts(built / "index_only.jsonl")) + (built / "cmexam_index_only.csv").read_text())
    reading = _texts(built / "reading.jsonl")
    assert not any(c in slice_text for c in READING_HEADS)  # so no reading name can be in the slice
    assert not any(c in normalize("".join(reading)) for c in _NAME_HEADS)  # nor a slice name in reading practice
    training = normalize("".join(_texts(built / "chimed_cpt.jsonl")))
    questions = [c[0]["content"] for c in iter_file(built / "reading_sft.jsonl", "sft")]
    names = {q[:3] for q in questions if q[0] in READING_HEADS}  # "枫蔺综合征..." starts with its two heads
    assert len({n[:2] for n in names}) >= READING_DISEASES * 0.9 and not any(n[:2] in training for n in names)


def test_every_reading_answer_is_in_a_reading_document_about_its_disease(built: Path) -> None:
    docs = [normalize(t) for t in _texts(built / "reading.jsonl")]
    conversations = list(iter_file(built / "reading_sft.jsonl", "sft"))
    assert len(conversations) >= READING_DISEASES * 2
    invented = 0
    for c in conversations:
        question, answer = c[0]["content"], c[1]["content"]
        name = re.search(f"[{READING_HEADS}]{{2}}", question)  # an invented disease, or a known one's update
        invented += name is not None
        subject = name.group(0) if name else answer
        assert any(normalize(answer) in d and subject in d for d in docs), question
    assert invented >= READING_DISEASES * 2


def test_a_reading_set_naming_an_index_only_fact_is_refused() -> None:
    kb = load_kb()
    with pytest.raises(ValueError, match="shares names"):
        build_reading(kb, [], slice_names=["枫"], slice_questions=[])  # every reading name starts with a head
