"""BLEU and ROUGE against hand-computed values, on English words and Chinese characters."""

from __future__ import annotations

import math

import pytest

from qilin.eval.textmetrics import corpus_bleu, lcs_length, rouge_l, rouge_n_count, rouge_n_unique, score_answers

REF = ["the", "cat", "sat", "on", "the", "mat"]


HYP = ["the", "cat", "on", "the", "mat"]


def test_bleu_matches_hand_computation() -> None:
    brevity = math.exp(1 - 6 / 5)  # hypothesis 5 tokens, reference 6
    assert corpus_bleu([REF], [HYP], 1) == pytest.approx(100 * brevity)  # all 5 unigrams match
    assert corpus_bleu([REF], [HYP], 2) == pytest.approx(100 * math.sqrt(1 * 3 / 4) * brevity)  # 3 of 4 bigrams
    assert corpus_bleu([REF], [HYP], 4) == 0.0  # "the cat on the" never occurs: no smoothing, BLEU-4 is 0
    # corpus level: counts are summed over pairs before dividing, not averaged per pair
    assert corpus_bleu([REF, ["a", "b"]], [HYP, ["a", "c"]], 1) == pytest.approx(100 * 6 / 7 * math.exp(1 - 8 / 7))


def test_rouge_unique_and_count_variants_match_hand_computation() -> None:
    assert rouge_n_unique(HYP, REF, 1) == pytest.approx(2 * 1 * 0.8 / 1.8, abs=1e-7)  # sets: 4/4 and 4/5
    assert rouge_n_count(HYP, REF, 1) == pytest.approx(10 / 11)  # counts: 5/5 and 5/6
    assert lcs_length(HYP, REF) == 5
    p, r = 1.0, 5 / 6
    beta = p / r
    assert rouge_l(HYP, REF) == pytest.approx((1 + beta**2) * r * p / (r + beta**2 * p))


def test_rouge_on_chinese_characters() -> None:
    hyp, ref = list("高血压高血压"), list("高血压病")
    assert rouge_n_unique(hyp, ref, 1) == pytest.approx(2 * 0.75 / 1.75, abs=1e-7)  # {高血压} vs {高血压病}
    assert rouge_n_count(hyp, ref, 1) == pytest.approx(0.6)  # P 3/6, R 3/4
    assert rouge_n_unique(hyp, ref, 2) == pytest.approx(2 / 3, abs=1e-7)  # {高血,血压,压高} vs {高血,血压,压病}
    assert rouge_n_count(hyp, ref, 2) == pytest.approx(0.5)  # P 2/5, R 2/3


def test_score_answers_on_chinese_text() -> None:
    scores = score_answers(["高血压应到心内科就诊。", ""], ["高血压一般到心内科就诊。", "糖尿病到内分泌科。"])
    # the nmt variant drops the empty answer before averaging; the count variant scores it 0
    assert scores["empty_predictions"] == 1
    hyp, ref = list("高血压应到心内科就诊。"), list("高血压一般到心内科就诊。")  # punctuation is a character too
    assert scores["rouge_1"] == round(100 * rouge_n_unique(hyp, ref, 1), 2)
    assert scores["rouge_1_count"] == round(100 * rouge_n_count(hyp, ref, 1) / 2, 2)
    assert 0 < scores["bleu_1"] < 100 and scores["bleu_4"] >= 0
