"""The detector against the labelled held-out half: the targets of issue 16, and a scorer that can fail."""

from __future__ import annotations

import pytest

from qilin.privacy.evaluate import EVAL_DIR, evaluate_file, evaluate_records, read_labelled

STRICT = ("id", "phone", "email", "record", "card")  # recall >= 0.98
LOOSER = ("name", "address", "date")  # recall >= 0.90


@pytest.fixture(scope="module")
def heldout() -> dict:
    return evaluate_file(EVAL_DIR / "heldout.jsonl")


def test_heldout_is_large_and_covers_every_type(heldout: dict) -> None:
    dev = read_labelled(EVAL_DIR / "dev.jsonl")
    assert heldout["records"] + len(dev) >= 300
    # account and org came after this set was written; the development notes and their own held-out set cover them
    older = {t: s for t, s in heldout["types"].items() if t not in ("account", "org")}
    assert all(s["labelled"] >= 8 for s in older.values()), heldout["types"]
    assert heldout["protected"] >= 300


def test_heldout_meets_the_recall_targets(heldout: dict) -> None:
    for t in STRICT:
        assert heldout["types"][t]["recall"] >= 0.98, (t, heldout["misses"])
    for t in LOOSER:
        assert heldout["types"][t]["recall"] >= 0.90, (t, heldout["misses"])
    assert heldout["protected_altered"] <= 0.01


def test_heldout_precision_is_high(heldout: dict) -> None:
    for t, s in heldout["types"].items():
        assert s["precision"] is None or s["precision"] >= 0.95, (t, heldout["false_alarms"])


def test_scorer_counts_a_missed_name_and_an_altered_value() -> None:
    # 王小明 has no context a rule can see; 5月12日 is protected here (made up) but a date to the detector.
    rows = [
        {
            "text": "这次王小明来了",
            "spans": [{"type": "name", "start": 2, "end": 5, "value": "王小明"}],
            "protected": [],
        },
        {
            "text": "患者李华于5月12日复诊",
            "spans": [{"type": "name", "start": 2, "end": 4, "value": "李华"}],
            "protected": ["5月12日"],
        },
    ]
    scores = evaluate_records(rows)
    assert scores["types"]["name"]["recall"] == 0.5
    assert scores["types"]["date"]["precision"] == 0.0  # the date overlaps no labelled value
    assert scores["protected_altered"] == 1.0
