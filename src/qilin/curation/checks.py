"""Automatic checks on one English -> Chinese translation; each problem becomes a named flag for the reviewers.

check_translation("Left kidney, 3 cm.", "右肾，3厘米。")  ->  [Flag("laterality", "source: left; translation: right")]

Flags: empty, untranslated_english, number_missing, unit_missing, laterality, glossary, length_ratio, back_translation.
Every check is a pure function of the texts, so a flag can be recomputed and explained by hand.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from qilin.curation.glossary import Glossary

FLAG_NAMES = (
    "empty",
    "untranslated_english",
    "number_missing",
    "unit_missing",
    "laterality",
    "glossary",
    "length_ratio",
    "back_translation",
)

# Latin-script words a good Chinese medical text keeps: units, and a few lower-case abbreviations. All-capital
# tokens (CT, MRI, HE), tokens with a digit (T2WI, BRCA1, p53) and single letters (panel labels A-F, L/R markers)
# are always allowed.
ALLOWED_LATIN = frozenset((
    "mm", "cm", "ml", "mg", "kg", "ng", "pg", "ug", "mcg", "mmol", "mol", "hz", "khz", "mhz", "kv", "kvp", "mas", "gy",
    "mgy", "msv", "bq", "mbq", "mci", "hu", "iu", "ms", "sec", "min", "hr", "mmhg", "bpm", "ppm", "nm", "um", "kda",
    "db", "cc", "ph", "et", "al", "vs",
))  # fmt: skip
MAX_ENGLISH_RATIO = 0.10  # leftover English letters / (all Latin letters + Chinese characters)
# Chinese characters (plus kept tokens) per English word: ~1.3 for caption prose; below 0.8 a part is missing,
# above 4 the model explained or repeated.
LENGTH_BAND = (0.8, 4.0)
MIN_WORDS_FOR_LENGTH = 4  # shorter texts ("Yes.", "CT.") have no stable ratio
MIN_BACK_F1 = 0.4

# A unit after a number in the source -> ways the translation may write it (the unit itself always counts).
UNITS_ZH = {
    "mm": ("毫米",),
    "cm": ("厘米",),
    "ml": ("毫升",),
    "mg": ("毫克",),
    "kg": ("千克", "公斤"),
    "g": ("克",),
    "mmhg": ("毫米汞柱",),
    "%": ("%", "％", "百分之"),
    "min": ("分钟",),
    "h": ("小时",),
    "hours": ("小时", "h"),
    "days": ("天", "日", "d"),
    "weeks": ("周", "星期"),
    "months": ("月",),
    "years": ("年", "岁"),
    "year": ("年", "岁"),
}
_UNIT = re.compile(
    r"(?<=\d)(?:\s*|-)(" + "|".join(sorted(map(re.escape, UNITS_ZH), key=len, reverse=True)) + r")(?![A-Za-z])", re.I
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['\-][A-Za-z0-9]+)*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SOURCE_SIDES = {"left": "left", "right": "right", "bilateral": "bilateral", "bilaterally": "bilateral"}
_SIDE_WORD = re.compile(r"\b(left|right|bilateral|bilaterally)\b", re.I)
# A lone L or R (an image's side marker), but not litres ("2 L"), vertebrae (L4) or regimens (R-CHOP).
_SIDE_LETTER = re.compile(r"(?<![A-Za-z0-9.\-])(?<!\d )([LR])(?![A-Za-z0-9.'\-])")
_BILATERAL_ZH = ("双侧", "两侧", "双肺", "双肾", "双下肢", "双上肢", "双眼", "双乳")
_APPROX_ZH = re.compile(r"(\d[^\d，。；、]{0,5}?)左右")  # "3 cm左右" is "about 3 cm", not left and right


@dataclass(frozen=True)
class Flag:
    """A named problem with a translation and what was seen."""

    name: str
    detail: str


def _normal(text: str) -> str:
    # NFKC: full-width digits and letters (３ｃｍ) count as the ASCII ones; thousands separators dropped.
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", unicodedata.normalize("NFKC", text))


def english_ratio(target: str, allowed: set[str] | frozenset[str] = frozenset()) -> tuple[float, list[str]]:
    """(share of the target's letters in untranslated English words, those words)."""
    target = _normal(target)
    leftover, latin_letters = [], 0
    for word in _LATIN_WORD.findall(target):
        letters = sum(c.isalpha() for c in word)
        latin_letters += letters
        kept = (
            len(word) == 1
            or word.isupper()
            or any(c.isdigit() for c in word)
            or word.lower() in ALLOWED_LATIN
            or word.lower() in allowed
        )
        if not kept:
            leftover.append(word)
    total = latin_letters + len(_CJK.findall(target))
    share = sum(sum(c.isalpha() for c in w) for w in leftover) / total if total else 0.0
    return share, leftover


def missing_numbers(source: str, target: str) -> list[str]:
    """Numbers of the source that the target does not contain, in source order."""
    have = set(_NUMBER.findall(_normal(target)))
    return list(dict.fromkeys(n for n in _NUMBER.findall(_normal(source)) if n not in have))


def missing_units(source: str, target: str) -> list[str]:
    """Units following a number in the source that the target writes neither as such nor in Chinese."""
    target_lower = _normal(target).lower()
    missing = []
    for unit in dict.fromkeys(u.lower() for u in _UNIT.findall(_normal(source))):
        if not any(form.lower() in target_lower for form in (unit, *UNITS_ZH[unit])):
            missing.append(unit)
    return missing


def source_sides(source: str) -> set[str]:
    """Laterality the English text states: left, right, bilateral (words, or L/R markers)."""
    sides = {_SOURCE_SIDES[w.lower()] for w in _SIDE_WORD.findall(source)}
    sides |= {"left" if m == "L" else "right" for m in _SIDE_LETTER.findall(source)}
    return sides


def target_sides(target: str) -> set[str]:
    """Laterality the Chinese text states: 左, 右, 双侧/两侧/双肺... (or kept L/R markers)."""
    text = _APPROX_ZH.sub(r"\1", _normal(target))
    sides = {"left"} if "左" in text else set()
    sides |= {"right"} if "右" in text else set()
    sides |= {"bilateral"} if any(b in text for b in _BILATERAL_ZH) else set()
    sides |= {"left" if m == "L" else "right" for m in _SIDE_LETTER.findall(text)}
    return sides


def length_ratio(source: str, target: str) -> float | None:
    """Chinese characters (plus kept Latin words and numbers) per English word; None for very short sources."""
    words = len(_LATIN_WORD.findall(source)) + len(_NUMBER.findall(_LATIN_WORD.sub(" ", source)))
    if words < MIN_WORDS_FOR_LENGTH:
        return None
    target = _normal(target)
    kept = len(_LATIN_WORD.findall(target)) + len(_NUMBER.findall(_LATIN_WORD.sub(" ", target)))
    return (len(_CJK.findall(target)) + kept) / words


def token_f1(reference: str, candidate: str) -> float:
    """Token-overlap F1 of two English texts (lower-cased words and numbers, counted with multiplicity)."""
    ref = Counter(re.findall(r"[a-z0-9]+", reference.lower()))
    cand = Counter(re.findall(r"[a-z0-9]+", candidate.lower()))
    overlap = sum((ref & cand).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(cand.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def check_translation(
    source: str,
    target: str,
    glossary: Glossary | None = None,
    back_translation: str | None = None,
    *,
    max_english: float = MAX_ENGLISH_RATIO,
    length_band: tuple[float, float] = LENGTH_BAND,
    min_back_f1: float = MIN_BACK_F1,
) -> list[Flag]:
    """Every flag the translation of `source` earns; [] for a clean one."""
    if not target.strip():
        return [Flag("empty", "the translation is empty")]
    glossary = glossary or Glossary({})
    flags = []
    share, words = english_ratio(target, glossary.latin_words())
    if share > max_english:
        flags.append(Flag("untranslated_english", f"{share:.0%} English letters: {' '.join(words)}"))
    if numbers := missing_numbers(source, target):
        flags.append(Flag("number_missing", "missing: " + ", ".join(numbers)))
    if units := missing_units(source, target):
        flags.append(Flag("unit_missing", "missing: " + ", ".join(units)))
    src, tgt = source_sides(source), target_sides(target)
    if src != tgt:
        flags.append(
            Flag("laterality", f"source: {', '.join(sorted(src)) or '-'}; translation: {', '.join(sorted(tgt)) or '-'}")
        )
    normal_target = _normal(target)
    if broken := [f"{en} -> {zh}" for en, zh in glossary.terms_in(source).items() if _normal(zh) not in normal_target]:
        flags.append(Flag("glossary", "not used: " + "; ".join(broken)))
    ratio = length_ratio(source, target)
    if ratio is not None and not length_band[0] <= ratio <= length_band[1]:
        flags.append(Flag("length_ratio", f"{ratio:.2f} per English word, outside {length_band[0]}-{length_band[1]}"))
    if back_translation is not None and (f1 := token_f1(source, back_translation)) < min_back_f1:
        flags.append(Flag("back_translation", f"token F1 {f1:.2f} < {min_back_f1}: {back_translation}"))
    return flags
