"""De-identify one record made of several texts (the fields of a JSON record, the cells of a CSV row).

    texts, spans = deid_texts(["患者王小明头痛", "王小明服药后好转"])   # ["患者[姓名1]头痛", "[姓名1]服药后好转"]
    deid_texts(["我叫赵丽颖，头痛", "赵女士您好"])[0]                   # ["我叫[姓名1]，头痛", "[姓名1]女士您好"]

Names found in one field are looked for in every field of the record (a name announced by 患者 in the prompt
is masked where the answer repeats it bare), and the whole record shares one RecordMasker. A bare surname with a
title (赵女士, 王主任, Mr. Smith) takes the placeholder of the one full name in the record with that surname, when its
role fits (a staff title: a staff member's; a polite title: a patient's, the one patient's when relatives share
the surname); when there is no such name, or it stays ambiguous, it keeps a placeholder of its own.

The replacement (RecordMasker, one per record): typed, indexed placeholders ("患者[姓名1]，电话[电话1]"; the same value
again gets [姓名1], another [姓名2]) or, in surrogate mode, fake values of the same shape (for CPT text, where a model
should still see names and numbers).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re

from qilin.privacy.detect import detect_phi
from qilin.privacy.names import is_surname_only
from qilin.privacy.roles import surname_length
from qilin.privacy.spans import LABELS, Span, halfwidth, id_check_char, value_key

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


_CJK = re.compile(r"[\u4e00-\u9fff]")
# Which full names a titled surname may be: 赵女士 is the patient, not the relative; 王主任 is staff.
_MAY_BE = {"polite": ("patient", "polite", ""), "staff": ("staff",), "": ("patient", "")}


def find_record_phi(texts: list[str]) -> list[list[Span]]:
    """PHI spans of each text of one record, names shared across its texts."""
    first = [detect_phi(t) for t in texts]
    if len(first) == 1:  # a CPT document: its own names were already looked for everywhere in it
        return first
    names = tuple(sorted({s.value for spans in first for s in spans if s.type == "name"}))
    # A text is read again only when a name found elsewhere occurs in it (a CPT document is a record of one text,
    # whose own names were already looked for everywhere in it): the same spans, half the work.
    return [
        detect_phi(t, names) if any(n in t or n in halfwidth(t) for n in names if n not in own) else spans
        for t, spans in zip(texts, first, strict=True)
        for own in [{s.value for s in spans if s.type == "name"}]
    ]


def _family_name(value: str) -> str:
    """The surname of a full name (王 of 王小明, Smith of John Smith), or '' for a bare surname."""
    if value.isascii():
        if "," in value:  # CHEN, Wei-Ling and Doe, John: the surname comes first (Ms. Chen is CHEN, Wei-Ling)
            return value.split(",")[0].strip().title()
        words = value.split()
        return words[-1] if len(words) > 1 else ""
    s = surname_length(value, 0)
    return value[:s] if s and len(value) > s else ""


def name_aliases(spans: list[list[Span]]) -> dict[str, str]:
    """Bare surnames (and English surnames alone) -> the one full name of the record they stand for."""
    full: dict[str, set[str]] = {}  # surname -> {(full name, role)}
    for s in (s for text in spans for s in text if s.type == "name"):
        family = _family_name(s.value)
        if family:
            full.setdefault(family, set()).add((s.value, s.role))
    given: dict[str, set[str]] = {}  # English first name -> full names (Hi Kevin ... Kevin Tran)
    for s in (s for text in spans for s in text if s.type == "name" and s.value.isascii() and " " in s.value):
        given.setdefault(s.value.split()[0], set()).add(s.value)
    aliases = {}
    dotted = {s.value for text in spans for s in text if s.type == "name" and "·" in s.value}
    for s in (s for text in spans for s in text if s.type == "name"):
        owners = {n for n in dotted if n.startswith(s.value + "·")}  # 阿依古丽 and 阿依古丽·买买提: one person
        if not owners and len(s.value) == 2 and s.value[0] in "阿小" and not surname_length(s.value, 1):
            owners = {n for ns in full.values() for n, _ in ns if n.endswith(s.value[1]) and n != s.value}  # 阿杰
        if len(owners) == 1:
            aliases[s.value] = owners.pop()
        if s.value not in full and not s.value.isascii() and len(s.value) == 2 and not surname_length(s.value, 0):
            owners = {n for ns in full.values() for n, _ in ns if len(n) > 2 and n.endswith(s.value)}
            if len(owners) == 1:  # 晓雯 and 杜晓雯: a given name alone stands for the one full name it ends
                aliases[s.value] = owners.pop()
        bare = is_surname_only(s.value) or (s.value.isascii() and " " not in s.value)
        if bare and s.value.isascii() and s.value not in full and len(given.get(s.value, ())) == 1:
            aliases[s.value] = next(iter(given[s.value]))  # a greeting by first name: the one person so named
        if not bare or s.value not in full:
            continue
        names = {name for name, _ in full[s.value]}
        roles = {role for _, role in full[s.value]}
        allowed = _MAY_BE.get(s.role, ("patient", ""))
        if len(names) == 1 and roles <= set(allowed) | {""} and roles & set(allowed):  # one person, a fitting role
            aliases[s.value] = names.pop()
        elif s.role == "polite":  # 患者宋国强, 家属宋佳, 宋大爷: a polite title is the one patient of that surname
            fitting = {name for name, role in full[s.value] if role == "patient"}
            others = {name for name, role in full[s.value] if role != "staff"}
            if len(fitting) == 1:
                aliases[s.value] = fitting.pop()
            elif not fitting and len(others) == 1 and len(spans) > 1:
                # a dialogue addresses its speakers: 家属：我是她儿子孙某某 ... 护士：孙先生您好 (one relative so named)
                aliases[s.value] = others.pop()
    return aliases


def deid_texts(texts: list[str], surrogates: bool = False, seed: str = "") -> tuple[list[str], list[list[Span]]]:
    """The texts of one record with PHI replaced, and the spans found in each."""
    spans = find_record_phi(texts)
    if not any(spans):  # most texts of a corpus: nothing to replace, no masker to build
        return list(texts), spans
    chinese = any(_CJK.search(t) for t in texts)
    masker = RecordMasker(chinese=chinese, surrogates=surrogates, seed=seed or "\n".join(texts))
    aliases = name_aliases(spans)
    for second, first in written_both_ways(texts, spans).items():
        aliases.setdefault(second, aliases.get(first, first))
    masker.aliases = aliases
    return [masker.apply(t, s) for t, s in zip(texts, spans, strict=True)], spans


_BETWEEN_FORMS = re.compile(r"[ \t]*[（(]?[ \t]*(?:(?:Dr|Mr|Mrs|Ms|Mdm|Prof)\.?[ \t]+)?")  # 陳志強 Dr. CHAN Chi Keung


_BEFORE_NICKNAME = re.compile(r"[ \t]*\(?[ \t]*(?:(?:goes by|known as|called|aka)[ \t]+)?[\"“]")
_QUOTED = re.compile(r"[\"“]([^\"”]+)[\"”]")


def written_both_ways(texts: list[str], spans: list[list[Span]]) -> dict[str, str]:
    """A name in Latin letters next to the same name in characters (WONG Siu Fung (黃少峰), 劉家明 LAU Ka Ming,
    Yumi Tanaka (田中由美)), a nickname in quotes inside or after a name (Marguerite "Peggy" Fitzgerald, Aarav
    Srinivasan (goes by "Avi")): the other mention -> the full name, one person."""
    aliases = {}
    for text, found in zip(texts, spans, strict=True):
        names = [s for s in found if s.type == "name"]
        for a, b in itertools.pairwise(names):
            scripts = a.value.isascii() != b.value.isascii() and _BETWEEN_FORMS.fullmatch(text, a.end, b.start)
            nickname = a.value.isascii() and b.value.isascii() and _BEFORE_NICKNAME.fullmatch(text, a.end, b.start)
            if scripts or nickname:
                aliases.setdefault(b.value, a.value)
        for a in names:
            for nickname in _QUOTED.findall(a.value):
                aliases.setdefault(nickname, a.value)
    return aliases
