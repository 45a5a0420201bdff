"""Translation checks: a clean translation passes, each kind of mistake is flagged with its detail."""

from __future__ import annotations

import pytest

from qilin.curation.checks import (
    check_translation,
    english_ratio,
    length_ratio,
    missing_numbers,
    source_sides,
    target_sides,
    token_f1,
)
from qilin.curation.glossary import Glossary

SOURCE = "Axial CT shows a 3 cm mass in the left kidney."  # 11 words: Axial CT shows a 3 cm mass in the left kidney
CLEAN = "轴位CT显示左肾有一个3 cm肿块。"  # 11 Chinese characters + CT, 3, cm kept = 14 units


def names(flags: list) -> list[str]:
    return [f.name for f in flags]


def test_a_clean_translation_passes_every_check() -> None:
    assert length_ratio(SOURCE, CLEAN) == pytest.approx(14 / 11)
    assert check_translation(SOURCE, CLEAN, Glossary({"kidney": "肾"})) == []
    assert check_translation("Bilateral pleural effusion, about 2 cm.", "双侧胸腔积液，约2 cm左右。") == []


def test_checks_flag_each_kind_of_mistake() -> None:
    # Untranslated English: "mass" (4 letters) of 8 Latin letters (CT, cm, mass) + 9 Chinese characters.
    share, words = english_ratio("轴位CT显示左肾有一个3 cm mass。")
    assert (share, words) == (pytest.approx(4 / 17), ["mass"])
    assert names(check_translation(SOURCE, "轴位CT显示左肾有一个3 cm mass。")) == ["untranslated_english"]

    dropped = check_translation("A 3.5 cm nodule, 12 mm from the right pleura.", "距右侧胸膜毫米处见一3.5 cm结节。")
    assert names(dropped) == ["number_missing"] and dropped[0].detail == "missing: 12"
    assert missing_numbers("1,200 mg at 8 h", "１２００ mg，8小时") == []  # thousands separator, full-width digits

    flipped = check_translation(SOURCE, "轴位CT显示右肾有一个3 cm肿块。")
    assert names(flipped) == ["laterality"] and flipped[0].detail == "source: left; translation: right"
    assert source_sides("Marker R; L4-L5 and 2 L of fluid") == {"right"}
    assert target_sides("约3 cm左右") == set() and target_sides("左右肺") == {"left", "right"}

    glossary = Glossary({"myocardial infarction": "心肌梗死"})
    broken = check_translation("Acute myocardial infarction.", "急性心肌梗塞。", glossary)
    assert names(broken) == ["glossary"] and "myocardial infarction -> 心肌梗死" in broken[0].detail

    truncated = check_translation(SOURCE, "轴位CT。")  # 2 characters + CT = 3 units for 11 words: 0.27
    assert names(truncated) == ["number_missing", "unit_missing", "laterality", "length_ratio"]
    assert length_ratio(SOURCE, "轴位CT。") == pytest.approx(3 / 11)
    assert names(check_translation("Give 5 mg daily.", "每日给予5。")) == ["unit_missing"]
    assert names(check_translation(SOURCE, "  ")) == ["empty"]

    # Back-translation: overlap {left, kidney} of 3 and 3 tokens -> P = R = F1 = 2/3.
    assert token_f1("the left kidney", "left kidney mass") == pytest.approx(2 / 3)
    assert names(check_translation(SOURCE, CLEAN, back_translation="A tumour on one side.")) == ["back_translation"]
