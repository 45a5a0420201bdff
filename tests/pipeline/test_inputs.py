"""What a run starts from: the demo tokenizer's corpus leaves out the problem parts (GRPO's problems and the
exam-format SFT conversations set aside from them), so adding either to a recipe keeps the base model and DCPT."""

from __future__ import annotations

from pathlib import Path

from qilin.config import Recipe, from_dict
from qilin.pipeline.inputs import _all_texts
from tests.conftest import write_jsonl


def test_problem_parts_stay_out_of_the_tokenizer_corpus(tmp_path: Path) -> None:
    sft = write_jsonl(
        tmp_path / "sft.jsonl",
        [{"messages": [{"role": "user", "content": "高血压挂什么科？"}, {"role": "assistant", "content": "心内科"}]}],
    )
    plain = from_dict(Recipe, {"stages": {"sft": {"data": [str(sft)]}}})
    with_problems = from_dict(Recipe, {"stages": {"sft": {"data": [str(sft), "embedded:problems-sft"]}}})
    texts = list(_all_texts(plain, tmp_path / "run"))
    assert texts == ["高血压挂什么科？", "心内科"]
    assert list(_all_texts(with_problems, tmp_path / "run")) == texts  # the part is not even built
    assert not (tmp_path / "run" / "data-problems").exists()
