"""The hand-written PHI note sets: their converter's checks, and the committed files agree with their sources."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HELDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "heldout"
_spec = importlib.util.spec_from_file_location("build_notes", HELDOUT / "deid" / "build_notes.py")
build_notes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_notes)


@pytest.mark.parametrize("name", ["deid", "deid2", "deid3", "deid4", "deid5", "deid6"])
def test_committed_files_are_what_the_source_builds(name: str) -> None:
    directory = HELDOUT / name
    records, medical = build_notes.parse_source((directory / "notes_source.txt").read_text(encoding="utf-8"))
    build_notes.check(records, medical)
    committed = [json.loads(line) for line in (directory / "notes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert committed == records
    assert (directory / "medical_strings.txt").read_text(encoding="utf-8").splitlines() == medical


def test_second_set_is_large_enough_and_every_medical_string_occurs() -> None:
    records, medical = build_notes.parse_source((HELDOUT / "deid2" / "notes_source.txt").read_text(encoding="utf-8"))
    assert len(records) >= 200 and len(medical) >= 500
    texts = [t for r in records for t in r["texts"]]
    assert all(any(m in t for t in texts) for m in medical)
    names = [s for r in records for spans in r["spans"] for s in spans if s["type"] == "name"]
    assert names and all(s["person"].startswith("P") for s in names)
    assert {r["lang"] for r in records} == {"zh", "en"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("## x1 admission zh\n{{nme:P1|王}}", "unknown type"),
        ("## x1 admission zh\n{{name|王小明}}", "needs a person id"),
        ("## x1 admission zh\n{{phone:P1|138}}", "needs a person id"),
        ("## x1 admission zh\n{{name:P1|王小明", "unclosed"),
        ("## x1 admission zh\n{{id|110105197803124134}}", "check character"),
        ("## x1 admission zh\n{{name:P1|马方}}\n## x2 admission zh\n[[马方综合征]]", None),
        ("## x1 admission zh\n{{name:P1|石淋}}\n## x2 admission zh\n[[石淋]]", "overlaps PHI"),
        ("## x1 letter zh\ntext", "expected '## ID STYLE"),
    ],
)
def test_bad_markup_is_refused_with_its_reason(source: str, message: str | None) -> None:
    if message is None:  # a name inside a longer medical word elsewhere is fine: no overlap in any text
        build_notes.check(*build_notes.parse_source(source))
        return
    with pytest.raises(build_notes.MarkupError, match=message):
        build_notes.check(*build_notes.parse_source(source))
