"""The pipeline's part in retrieval-aware SFT: the training index over stages.sft.rag.corpus, the evaluation
questions no passage may hold, both in the SFT stage's fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.config import Recipe, from_dict
from qilin.pipeline import runner
from qilin.rag.index import load_index
from tests.conftest import corpus_lines, sft_rows, write_jsonl


def _recipe(tmp_path: Path, eval_corpus: Path, **rag: object) -> Recipe:
    exam = tmp_path / "exam.csv"
    exam.write_text('Question,Options,Answer\n高血压应到哪个科室就诊？,"A 心内科\nB 眼科",A\n', encoding="utf-8")
    qa = write_jsonl(
        tmp_path / "qa.jsonl", [{"questions": "家里老人得了痛风，该找哪个科？", "answers": "风湿免疫科。"}]
    )
    sft = write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    stages = {"sft": {"data": [str(sft)], "rag": {"share": 0.5, **rag}}}
    benchmarks = [{"benchmark": "mcq", "path": str(exam)}, {"benchmark": "qa", "path": str(qa)}]
    return from_dict(Recipe, {"stages": stages, "eval": {"benchmarks": benchmarks, "rag": [str(eval_corpus)]}})


def test_sft_context_gets_the_training_index_and_the_evaluation_questions(tmp_path: Path) -> None:
    train, other = tmp_path / "train.txt", tmp_path / "other.txt"
    train.write_text("\n".join(corpus_lines(40)) + "\n", encoding="utf-8")
    other.write_text("新药岚米替尼用于岚栖病。\n", encoding="utf-8")
    recipe = _recipe(tmp_path, other, corpus=[str(train)])
    ctx = runner._context("sft", recipe.stages.sft, recipe, tmp_path / "run", tmp_path / "model", False)
    assert ctx.evaluation_items == ("高血压应到哪个科室就诊？", "家里老人得了痛风，该找哪个科？")
    assert {p["source"] for p in load_index(ctx.rag_index).passages} == {str(train)}  # never eval.rag's other file
    _, fingerprint = runner._stage_inputs(ctx, "m", None)
    with train.open("a", encoding="utf-8") as f:  # a new passage in the training index: the stage runs again
        f.write("贫血患者常见乏力，应到血液科就诊。\n")
    changed = runner._context("sft", recipe.stages.sft, recipe, tmp_path / "run", tmp_path / "model", False)
    assert runner._stage_inputs(changed, "m", None)[1] != fingerprint


def test_sft_rag_without_a_corpus_is_refused(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, tmp_path / "unused.txt")
    recipe.eval.rag = []
    with pytest.raises(ValueError, match=r"stages\.sft\.rag \(share > 0 or reading\) needs a corpus"):
        runner._context("sft", recipe.stages.sft, recipe, tmp_path / "run", tmp_path / "model", False)


def test_reading_practice_is_trained_last_and_fingerprinted(tmp_path: Path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("\n".join(corpus_lines(40)) + "\n", encoding="utf-8")
    reading = write_jsonl(tmp_path / "reading.jsonl", sft_rows()[:2])
    recipe = _recipe(tmp_path, train, corpus=[str(train)], reading=[str(reading)])
    ctx = runner._context("sft", recipe.stages.sft, recipe, tmp_path / "run", tmp_path / "model", False)
    assert ctx.data[-1] == reading and ctx.reading_data == (reading,)
    _, fingerprint = runner._stage_inputs(ctx, "m", None)
    write_jsonl(reading, sft_rows()[:3])  # other reading practice: the stage runs again
    changed = runner._context("sft", recipe.stages.sft, recipe, tmp_path / "run", tmp_path / "model", False)
    assert runner._stage_inputs(changed, "m", None)[1] != fingerprint
