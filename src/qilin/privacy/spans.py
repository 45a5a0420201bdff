"""A typed PHI span, the PHI types and their placeholder labels, and the text form detectors read.

Span("phone", 5, 16, "13812345678")     # text[5:16] is a phone number
halfwidth("电话：１３８１２３４５６７８")      # same length, ASCII digits: offsets carry over to the original
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# type -> (Chinese label, English label) of its placeholder: [姓名1], [NAME1]
LABELS: dict[str, tuple[str, str]] = {
    "name": ("姓名", "NAME"),
    "id": ("身份证号", "ID"),
    "phone": ("电话", "PHONE"),
    "address": ("地址", "ADDRESS"),
    "date": ("日期", "DATE"),
    "record": ("病历号", "MRN"),
    "card": ("银行卡", "CARD"),
    "plate": ("车牌", "PLATE"),
    "email": ("邮箱", "EMAIL"),
    "url": ("网址", "URL"),
    "ip": ("IP", "IP"),
    "ssn": ("SSN", "SSN"),
    "account": ("账号", "ACCOUNT"),
    "org": ("机构", "ORG"),
}
TYPES = tuple(LABELS)

# Full-width digits, letters and a few signs -> ASCII, one character for one so span offsets stay valid.
_FULL = "".join(chr(0xFF10 + i) for i in range(10)) + "".join(chr(0xFF21 + i) for i in range(26))
_FULL += "".join(chr(0xFF41 + i) for i in range(26)) + "＋－＠．／　"
_HALF = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-@./ "
_TO_HALF = str.maketrans(_FULL, _HALF)
# Traditional characters read as simplified ones (醫師：陳志強 as 医师：陈志强), one for one like the digits above.
_TRADITIONAL = Path(__file__).resolve().parents[1] / "resources" / "deid" / "traditional.txt"
_TO_HALF.update(
    (ord(pair[0]), pair[1])
    for line in _TRADITIONAL.read_text(encoding="utf-8").splitlines()
    if not line.startswith("#")
    for pair in line.split()
)
# Characters spaced apart as a scan or a form writes them (姓 名：祝 英 台): three ideographs, single spaces between.
_SPACED = re.compile(r"[\u4e00-\u9fff0-9０-９] [\u4e00-\u9fff0-9０-９] [\u4e00-\u9fff0-9０-９]")  # or digits: 1 3 9
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(sorted({lab for pair in LABELS.values() for lab in pair})) + r")\d+\]")


@dataclass(frozen=True)
class Span:
    """`text[start:end]` is PHI of `type` (one of TYPES); `value` is that text; `role` hints whose name it is.

    role (names only, not compared): patient, family, staff or polite (王女士); record.py uses it to resolve a
    surname with a title to the full name of the same person.
    """

    type: str
    start: int
    end: int
    value: str
    role: str = field(default="", compare=False)


def id_check_char(body: str) -> str:
    """The check character (0-9 or X) of a resident ID's first 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def luhn_ok(digits: str) -> bool:
    """Whether a card number's digits pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def id_check_ok(value: str) -> bool:
    """Whether `value` (spaces allowed) is an 18-character resident ID whose check character is right."""
    body = re.sub(r"\s", "", value).upper()
    if len(body) != 18 or not body[:17].isdigit():
        return False
    return id_check_char(body[:17]) == body[17]


def halfwidth(text: str) -> str:
    """`text` with full-width digits and letters made ASCII and traditional characters simplified, one for one."""
    return _short_halfwidth(text) if len(text) <= 1024 else text.translate(_TO_HALF)


# a text is read by the name tagger's batch and by detection: translate it once (the cache holds 16 MB at most)
@lru_cache(maxsize=4096)
def _short_halfwidth(text: str) -> str:
    return text.translate(_TO_HALF)


def squeeze_spaced(text: str) -> tuple[str, list[int]] | None:
    """`text` with the spaces of characters spaced apart removed (祝 英 台 -> 祝英台) and, for each character of the
    result, its offset in `text`; None when nothing is spaced apart."""
    if " " not in text or not _SPACED.search(text):  # most Chinese text has no space at all
        return None
    kept = [i for i in range(len(text)) if not _is_spacing(text, i)]
    return "".join(text[i] for i in kept), kept


def _ideograph(text: str, i: int) -> bool:
    """An ideograph or a digit: what a scan spaces apart (电 话: 1 3 9 ..., 大 街 １ ２ ３ 号)."""
    return 0 <= i < len(text) and ("\u4e00" <= text[i] <= "\u9fff" or text[i].isdigit())


def _is_spacing(text: str, i: int) -> bool:
    """A single space after an ideograph that stands alone between spaces (祝 英 台, 姓 名:, 查 体 ：), before another
    ideograph or a colon; 王小明 性别 and 拔双J管 主治医师 keep theirs."""
    if (
        text[i] != " "
        or not _ideograph(text, i - 1)
        or not (_ideograph(text, i + 1) or text[i + 1 : i + 2] in (":", "："))
    ):
        return False
    return text[i - 2 : i - 1] in ("", " ", "\n") or (
        _ideograph(text, i + 1) and text[i + 2 : i + 3] in ("", " ", "\n", ":", "：")
    )


def value_key(value: str) -> str:
    """What makes two mentions the same value: 138 1234 5678 and 13812345678 are one phone."""
    return re.sub(r"[\s\-·.()]", "", halfwidth(value)).lower()


def is_placeholder(text: str) -> bool:
    """Whether `text` is exactly one of our placeholders ([姓名1], [PHONE2])."""
    return _PLACEHOLDER.fullmatch(text) is not None


def placeholders_in(text: str) -> list[str]:
    """Every placeholder in `text`, in order."""
    return _PLACEHOLDER.findall(text)
