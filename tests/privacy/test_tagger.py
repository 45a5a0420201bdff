"""The name tagger: its features, its batched scoring, its guards, its training, and what it adds to the rules."""

from __future__ import annotations

import numpy as np
import pytest

from qilin.privacy.detect import detect_phi
from qilin.privacy.parallel import deid_records
from qilin.privacy.record import deid_texts
from qilin.privacy.spans import Span
from qilin.privacy.tagger import (
    DIMENSION,
    NameTagger,
    character_features,
    plausible_name,
    shipped_tagger,
    using_tagger,
    with_tagged_names,
)
from qilin.privacy.tagger.training import character_labels, train_tagger


def names(text: str) -> list[str]:
    return [s.value for s in detect_phi(text) if s.type == "name"]


def test_features_of_a_character_read_three_neighbours_each_side() -> None:
    a = character_features("患者：王小明，男，45岁")
    b = character_features("病人：王小明，男，45岁")  # the first two characters differ
    assert a.shape == (12, 22) and a.min() >= 0 and a.max() < DIMENSION
    assert (a[5:] == b[5:]).all()  # position 5 and on: nothing within three characters changed
    assert (a[4] != b[4]).any()  # position 4 sees position 1
    assert character_features("").shape == (0, 22)


def test_primed_scores_are_each_texts_own_scores() -> None:
    tagger = shipped_tagger()
    texts = ["", "王", "患者：王小明，男", "联系人：李四 13812345678\n签名：赵六", "𠀀上面的字在平面之外"]
    alone = [tagger.scores(t) for t in texts]
    tagger.prime(texts)
    try:
        for text, scores in zip(texts, alone, strict=True):
            assert np.allclose(tagger.scores(text), scores, atol=1e-5)
    finally:
        tagger.prime([])


def test_batched_deid_records_match_one_record_at_a_time() -> None:
    records = [["今天值班的是韩雨桐和冼嘉禾两位同学。"], ["复查结果已告知聂思琪本人。", "聂思琪：好的"], ["无"]]
    batched = list(deid_records(records, workers=1))
    assert batched == [deid_texts(r) for r in records]


def test_the_tagger_finds_names_no_rule_announces() -> None:
    text = "本周复诊名单：邝志远、蒯晓敏、覃丽华。复查结果已告知聂思琪本人。"
    with using_tagger(None):
        assert names(text) == []  # no label, title or role before them
    assert names(text) == ["邝志远", "蒯晓敏", "覃丽华", "聂思琪"]


def test_guards_keep_medical_and_common_words() -> None:
    text = "诊断：唐氏综合征，高血压病史，服用华法林"
    assert not plausible_name(text, 3, 5)  # 唐氏 opens a medical word
    assert not plausible_name(text, 9, 12)  # 高血压: disease characters
    assert not plausible_name(text, 17, 20)  # 华法林: a drug
    assert plausible_name("由王小明签字", 1, 4)
    assert not plausible_name("由 Li 签字", 2, 4)  # Han runs only


def test_tagged_names_go_only_where_no_rule_span_lies() -> None:
    everything = NameTagger(np.full(DIMENSION, 5.0, np.float32), 0.0, 0.7, 0.35)  # scores every character a name
    text = "王小明"
    with using_tagger(everything):
        assert with_tagged_names(text, text, []) == [Span("name", 0, 3, "王小明")]
        assert with_tagged_names(text, text, [Span("name", 0, 1, "王")]) == [Span("name", 0, 1, "王")]


def test_training_learns_a_context_from_labelled_text() -> None:
    given = ["建国", "秀英", "志强", "丽娟", "海涛", "春梅", "文博", "雅琴", "子涵", "思远"]
    surnames = "王李张刘陈杨黄赵吴周"
    rows = []
    for i in range(120):
        name = surnames[i % 10] + given[(i * 3) % 10]
        text = f"第{i}号床的护工是{name}，今天上班。"
        start = text.index(name)
        rows.append((text, [{"type": "name", "start": start, "end": start + 3}]))
        rows.append((f"第{i}号床今天换药，体温正常。", []))
    tagger = train_tagger(rows, epochs=3)
    text = "第9号床的护工是郑晓峰，今天上班。"  # a surname and given name it never saw
    assert tagger.runs(text) == [(8, 11)]
    assert tagger.runs("第9号床今天换药，体温正常。") == []
    assert character_labels(rows[0][0], rows[0][1]).sum() == 3


@pytest.mark.parametrize("field", ["weights", "threshold"])
def test_the_shipped_tagger_loads(field: str) -> None:
    tagger = shipped_tagger()
    assert len(tagger.weights) == DIMENSION and 0 < tagger.low < tagger.threshold < 1
    assert np.isfinite(getattr(tagger, field)).all()
