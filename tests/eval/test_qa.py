"""Open QA: predictions made elsewhere match test items by id or by line, and a count mismatch is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.data.records import DataError
from qilin.eval.qa import QAItem, read_predictions, read_qa


def test_predictions_match_by_id_or_line_and_refuse_a_count_mismatch(tmp_path: Path) -> None:
    data = tmp_path / "test.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "questions": f"问{i}", "answers": [f"答{i}"]}, ensure_ascii=False) + "\n"
            for i in (1, 2)
        )
    )
    items = read_qa(data)
    assert items[0] == QAItem("问1", "答1", "1")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": 2, "prediction": "二"}\n{"id": 1, "prediction": "一"}\n', encoding="utf-8")
    assert read_predictions(pred, [i.id for i in items]) == ["一", "二"]
    pred.write_text('{"prediction": "一"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="1 predictions for 2 test items"):
        read_predictions(pred, [i.id for i in items])
