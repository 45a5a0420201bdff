"""Replace PHI spans in one record: typed, indexed placeholders or realistic surrogates, consistent per record.

    masker = RecordMasker(chinese=True)
    masker.apply(text, spans)        # "患者[姓名1]，电话[电话1]" ; the same value again gets [姓名1], another [姓名2]

One RecordMasker per record (a JSON line, a CPT document, a CSV row): within it a value keeps its placeholder
across fields and mentions, and two different people never share one. Surrogate mode puts fake values of the
same shape in place of the placeholders (for CPT text, where a model should still see names and numbers).
"""

from __future__ import annotations

import hashlib
import random
import re

from qilin.privacy.spans import LABELS, Span, id_check_char, value_key

_FAKE_SURNAMES = "赵钱孙李周吴郑王冯陈"
_FAKE_GIVEN = "一二三四五六七八九十甲乙丙丁戊己庚辛"
_FAKE_EN = ["Alex Doe", "Sam Roe", "Jordan Poe", "Casey Moe", "Taylor Loe", "Morgan Koe"]
_FAKE_ROADS = ["示例路", "样本街", "虚构大道", "测试巷"]


def _digits_like(value: str, rng: random.Random, keep: int = 0) -> str:
    """`value` with every digit after the first `keep` ones replaced: separators and length stay."""
    out, seen = [], 0
    for ch in value:
        if ch.isdigit() or ch in "０１２３４５６７８９":
            seen += 1
            out.append(ch if seen <= keep else str(rng.randint(0, 9)))
        else:
            out.append(ch)
    return "".join(out)


def _fake_id(rng: random.Random) -> str:
    body = f"110101{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + id_check_char(body)


def surrogate(kind: str, value: str, rng: random.Random) -> str:
    """A fake value of `kind` shaped like `value` (same separators and writing system where it matters)."""
    cjk = re.search(r"[\u4e00-\u9fff]", value) is not None
    if kind == "name":
        if not cjk:
            return rng.choice(_FAKE_EN)
        return rng.choice(_FAKE_SURNAMES) + ("某" if "某" in value else rng.choice(_FAKE_GIVEN))
    if kind == "id":
        return _fake_id(rng)
    if kind in ("phone", "record", "card", "ssn"):
        return _digits_like(value, rng, keep=3 if kind == "phone" else 0)
    if kind == "date":
        y, m, d = rng.randint(1950, 2024), rng.randint(1, 12), rng.randint(1, 28)
        return f"{y}年{m}月{d}日" if cjk else f"{y}-{m:02d}-{d:02d}"
    if kind == "address":
        if not cjk:
            return f"{rng.randint(1, 999)} Example Street, Springfield"
        return f"示例市虚构区{rng.choice(_FAKE_ROADS)}{rng.randint(1, 200)}号"
    if kind == "email":
        return f"user{rng.randint(100, 999)}@example.com"
    if kind == "url":
        return f"https://example.org/{rng.randint(100, 999)}"
    if kind == "ip":
        return f"192.0.2.{rng.randint(1, 254)}"  # TEST-NET-1 (RFC 5737): never a real host
    if kind == "plate":
        return f"测A{rng.randint(10000, 99999)}"
    if kind == "account":
        return f"user_{rng.randint(10000, 99999)}"
    if kind == "org":
        return f"示例市第{rng.randint(1, 9)}医院" if cjk else f"Example General Hospital {rng.randint(1, 9)}"
    raise ValueError(f"unknown PHI type {kind!r}")


class RecordMasker:
    """Placeholders (or surrogates) for the PHI of one record, the same for the same value."""

    def __init__(self, chinese: bool = True, surrogates: bool = False, seed: str = ""):
        self.chinese, self.surrogates = chinese, surrogates
        self._seed, self._rng = seed, None
        self._by_value: dict[tuple[str, str], str] = {}
        self.aliases: dict[str, str] = {}  # 赵 (of 赵女士) -> 赵丽颖: one placeholder per person
        self._count: dict[str, int] = {}

    @property
    def rng(self) -> random.Random:
        """The record's random source, seeded from its text (made on first use: most records hold no PHI)."""
        if self._rng is None:
            self._rng = random.Random(hashlib.sha256(self._seed.encode("utf-8")).hexdigest())
        return self._rng

    def replacement(self, span: Span) -> str:
        """The placeholder or surrogate of `span`'s value, assigned on first sight."""
        value = self.aliases.get(span.value, span.value) if span.type == "name" else span.value
        key = (span.type, value_key(value))
        if key not in self._by_value:
            self._count[span.type] = self._count.get(span.type, 0) + 1
            if self.surrogates:
                self._by_value[key] = surrogate(span.type, value, self.rng)
            else:
                label = LABELS[span.type][0 if self.chinese else 1]
                self._by_value[key] = f"[{label}{self._count[span.type]}]"
        return self._by_value[key]

    def apply(self, text: str, spans: list[Span]) -> str:
        """`text` with each (non-overlapping, ordered) span replaced."""
        out, pos = [], 0
        for span in spans:
            out += [text[pos : span.start], self.replacement(span)]
            pos = span.end
        return "".join(out) + text[pos:]
