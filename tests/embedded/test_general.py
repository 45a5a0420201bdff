"""The bundled general corpus and exam: size, correctness, held-out phrasing, determinism."""

import json
import re
from pathlib import Path

from qilin.chimed.dedup import normalize
from qilin.data.text.formats import read_file
from qilin.embedded.general import bundled_facts_path, general_facts
from qilin.eval.multiple_choice import read_cmexam
from qilin.pipeline.inputs import resolve_data


def _build(run_dir: Path) -> tuple[list[str], list]:
    corpus, exam = resolve_data(["embedded:general", "embedded:general-exam"], run_dir)
    return [d for d in read_file(corpus, "cpt")], read_cmexam(exam)


def test_the_exam_has_200_five_option_questions_whose_facts_the_corpus_teaches_in_other_words(tmp_path: Path) -> None:
    docs, exam = _build(tmp_path)
    assert len(exam) >= 200
    assert {q.annotations["Domain"] for q in exam} == {"地理", "科学", "算术"}
    corpus = normalize("".join(docs))
    for q in exam:
        assert len(q.options) == 5 and len(q.answer) == 1 and len(set(q.options.values())) == 5
        assert normalize(q.explanation) in corpus  # the answer's fact is stated in training text
        assert normalize(q.question) not in corpus  # in a phrasing no training text uses
    table = json.loads(bundled_facts_path().read_text(encoding="utf-8"))
    facts = general_facts(table)
    for relation, spec in table["relations"].items():  # every fact under every statement phrasing
        first = next(f for f in facts if f["relation"] == relation)
        for template in spec["train"]:
            assert normalize(template.format(**first["fields"])) in corpus, (relation, template)
    short_answers = [d for d in docs if "\n答案：" in d]  # and as questions with their answers
    assert len(short_answers) == sum(len(table["relations"][f["relation"]]["questions"]) for f in facts)
    assert len(facts) == len(exam)


def test_arithmetic_answers_are_right_and_capitals_match_the_table(tmp_path: Path) -> None:
    _, exam = _build(tmp_path)
    ops = {"乘": lambda a, b: a * b, "加": lambda a, b: a + b}
    checked = 0
    for q in exam:
        if m := re.fullmatch(r"(\d+)([乘加])(\d+)的结果是多少？", q.question):
            (letter,) = q.answer
            assert int(q.options[letter]) == ops[m[2]](int(m[1]), int(m[3])), q.question
            checked += 1
    assert checked == 36 + 45  # the 2..9 multiplication table and the 1..9 addition table, each pair once
    china = next(q for q in exam if q.question == "哪座城市是中国的首都？")
    assert china.options[next(iter(china.answer))] == "北京"


def test_the_build_is_deterministic_and_reused(tmp_path: Path) -> None:
    a = resolve_data(["embedded:general-exam"], tmp_path / "a")[0]
    b = resolve_data(["embedded:general-exam"], tmp_path / "b")[0]
    assert a.read_bytes() == b.read_bytes()
    mtime = a.stat().st_mtime_ns
    resolve_data(["embedded:general-exam"], tmp_path / "a")
    assert a.stat().st_mtime_ns == mtime  # built once per table and seed
