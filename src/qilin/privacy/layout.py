"""PHI announced by a note's layout, not by a word the other rules know: the fallbacks for forms never seen.

    layout_spans("透析号 HD-0137\n3.10出院")   # [Span("record", 4, 11, "HD-0137"), Span("date", 12, 16, "3.10")]

- A long run of digits (letters may lead or trail) right after ANY short label ending in 号/码/编号/No./#/ID or a
  short capitalised acronym (透析号 HD-0137, 警号016533, NHI: ZAC4821, CCF #: 77329104) is an identifier: a
  hospital invents new number labels faster than a list can follow. A decimal, a unit or a ratio after it is a
  measurement and stays (FEV1 1.62L, CA 19-9).
- Short dates (3.10出院, 4/8出院, Admitted 3/9, 25/3/5, 25-04-02, 11-JAN-1964, Mon, 10 Mar 2025): a month and a day
  with no year are a date only where a date stands (a verb of admission or discharge after it, a time after it, a
  cell or line of its own, "on"/"admitted" before it), never before a unit (3.10 mmol/L) or inside a number.
These run after the specific patterns and only fill gaps: a span here never replaces one found by a known label.
"""

from __future__ import annotations

import re

from qilin.privacy.spans import Span

# A short label ending in a number word. Labels of things that are not a person's (批号, 型号, 文号: a drug batch or
# approval number; 床号: a bed) are left out, as are phone labels (the phone rules read them).
_CN_NUMBER_LABEL = r"(?<![\u4e00-\u9fff])[\u4e00-\u9fff]{0,6}(?:号|号码|码|编号|ID|id|No\.?)"
_NOT_PERSONAL = re.compile(r"(?:批|型|文|准|床|信|序|字|电话|手机|座机|传真|邮政|邮|货|版|款|暗|密|页|次|代|尺)(?:号|号码|码|编号)$")
_EN_NUMBER_LABEL = (
    r"(?<![\w\-/])(?:[A-Z]{2,5}|[A-Z][a-z]+(?:[ \t][A-Z][a-z]+)?[ \t](?:ID|No\.?|Number|#|Card)|(?i:passport|id|no\.?|ref))"
    r"(?![\w\-])"
)
_VALUE = r"(?:[A-Z]{1,5}[-/ ]?){0,2}\d[\dA-Z]*(?:[-/ (]\d[\dA-Z]*\)?|[-/][A-Z]{1,4}\b)*(?:[A-Z]{1,2}\b)?"
_LABELLED_NUMBER = re.compile(
    rf"({_CN_NUMBER_LABEL}|{_EN_NUMBER_LABEL})[ \t]*#?[ \t]*[:：|]?[ \t]*({_VALUE})(?![\w.%/])"
)
# What a measurement has after its number (a unit) or an acronym label has when it names a test, not a person.
_UNIT_AFTER = re.compile(
    r"[a-zA-Zμµ%‰℃°×^*]|[ \t]?(?:[μµ%‰℃°×^*]|[个次分秒岁天周月年倍级度期型份片粒支瓶袋克升]|"
    r"(?:mmol|umol|mg|g|kg|ml|mL|L|dL|U|IU|mm|cm|mmHg|bpm|min|h|hr|hrs|days?|weeks?|mo|y|yo|x|times|cells)\b)"
)
_TEST_ACRONYMS = set("ICD CA CEA AFP PSA BP HR RR EF INR LDL HDL NIHSS GCS APACHE SOFA PHQ GAD HAMD MMSE BMI FEV".split())
_ID_WORDS = re.compile(r"护照|身份|证件|(?i:passport|nric|hkid|national)")
_CARD_WORDS = re.compile(r"卡|医保|社保|(?i:card|medicare|phn|health|member|insurance)")
_SSN_WORDS = re.compile(r"(?i:ssn|pps|sin\b|social)")

_MONTH_WORDS = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
_WEEKDAY = r"(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)(?:day|nesday|sday|urday)?"
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_LONG_DATE = re.compile(
    rf"\b\d{{1,2}}-{_MONTH_WORDS}-(?:19|20)?\d\d\b"  # 11-JAN-1964
    rf"|\b{_WEEKDAY},?[ \t]+(?:\d{{1,2}}[ \t]+{_MONTH}\.?,?[ \t]+\d{{4}}|{_MONTH}\.?[ \t]+\d{{1,2}},?[ \t]+\d{{4}})\b"
    rf"|\b(?:the[ \t]+)?\d{{1,2}}(?:st|nd|rd|th)[ \t]+of[ \t]+{_MONTH}\b(?:,?[ \t]+\d{{4}}\b)?"
)
# A month alone after since/until (since November); May and March are words elsewhere, so only here.
_MONTH_ALONE = re.compile(
    r"\b(?:[Ss]ince|[Uu]ntil|[Ff]rom|[Ee]arly|[Ll]ate|[Mm]id-)[ \t]*"
    r"(January|February|March|April|June|July|August|September|October|November|December)\b"
)
_TIME_AFTER = re.compile(r"[ \t]+\d{1,2}:\d{2}(?::\d{2})?")
# A year of two digits first (25/3/5, 25-04-02, 25.4.3): a first number over 12 cannot be a month.
_YY_DATE = re.compile(
    r"(?<![\d./\-])(?:1[3-9]|[23]\d)([/.\-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?![\d/\-]|\.\d)"
)
_MONTH_DAY = re.compile(r"(?<![\d./\-:])(?:0?[1-9]|1[0-2])([./])(?:0?[1-9]|[12]\d|3[01])(?![\d/]|\.\d)")
# Where a month and day with no year stand as a date: before a time, a verb of a stay, the end of a cell or line.
_DATE_AFTER = re.compile(
    r"[ \t]*(?:\d{1,2}[:：]\d{2}|\n|$|[ \t]{2}|\t)"
    r"|(?:入院|出院|转入|转出|手术|术后|复查|复诊|就诊|起|开始|至|到|在|行|于|再次|凌晨|上午|下午|晚上?|夜间?|早上?|"
    r"中午|门诊|急诊|住院|来院|收入|拔管|拆线|随访|查|予|给予|夜班|白班|发病|发热|出现)"
)
_DATE_BEFORE = re.compile(r"(?:^|[\n\t]|[ \t]{2}|[，,；;。（(、]|\][ \t]*|[\u4e00-\u9fff）)][ \t]+)$")
# Words after which a month/day is a date whatever follows (于3.10 but not 低于6.2; Admitted 3/9, on 3/10).
_STRONG_BEFORE = re.compile(
    r"(?:(?<![低高大小等多少介])于|(?i:\b(?:on|admitted|discharged|since|until|placed|seen|dated|check|dos|returned|started|stopped|"
    r"due|scheduled|booked))[ \t]+)$"
)


_DIGIT = re.compile(r"\d")


# A number written with its country code (+92 300 1234567, +49 176 5550 2231): a phone wherever it stands.
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ \-]\(?\d{1,5}\)?){1,4}(?:[ \-]\d{2,8})(?![\w.])")


def international_phones(text: str, original: str) -> list[Span]:
    """Phones written with a + and a country code, in groups."""
    spans = []
    for m in _INTERNATIONAL_PHONE.finditer(text) if "+" in text else ():
        if sum(c.isdigit() for c in m.group()) >= 8:
            spans.append(Span("phone", m.start(), m.end(), original[m.start() : m.end()]))
    return spans


def _number_type(label: str) -> str:
    if _SSN_WORDS.search(label):
        return "ssn"
    if _ID_WORDS.search(label):
        return "id"
    return "card" if _CARD_WORDS.search(label) else "record"


def labelled_numbers(text: str, original: str) -> list[Span]:
    """Identifiers by shape after any short number label (透析号 HD-0137, NHI: ZAC4821), measurements excluded."""
    spans = []
    for m in _LABELLED_NUMBER.finditer(text):
        label, value = m.group(1), m.group(2).rstrip(" -/")
        digits = sum(c.isdigit() for c in value)
        if _NOT_PERSONAL.search(label) or label.upper() in _TEST_ACRONYMS or label in ("ID", "id") and not digits:
            continue
        letters = any(c.isalpha() for c in value)
        acronym = label[:1].isupper() and label.isalpha() and label.isupper()
        if acronym and not value[0].isalpha() and (letters or digits < 6):
            continue  # CK 12800U/L, HR 88, CA 19-9: a test with its value (an acronym's id is long or lettered)
        if digits < 4 or _UNIT_AFTER.match(text, m.start(2) + len(value)):
            continue  # FEV1 1.62L: a measurement
        start = m.start(2)
        spans.append(Span(_number_type(label), start, start + len(value), original[start : start + len(value)]))
    return spans


def short_dates(text: str, original: str) -> list[Span]:
    """Dates in short forms: 25/3/5, 11-JAN-1964, Mon, 10 Mar 2025, and a month.day where a date stands (3.10出院)."""
    spans = [Span("date", m.start(1), m.end(1), m.group(1)) for m in _MONTH_ALONE.finditer(text)]
    if not _DIGIT.search(text):
        return spans
    for m in _LONG_DATE.finditer(text):
        time = _TIME_AFTER.match(text, m.end())  # Mon, 10 Mar 2025 07:52: the time goes with it
        end = time.end() if time and text[m.end() - 1].isdigit() else m.end()
        spans.append(Span("date", m.start(), end, original[m.start() : end]))
    for m in _YY_DATE.finditer(text):
        if not _UNIT_AFTER.match(text, m.end()):
            spans.append(Span("date", m.start(), m.end(), original[m.start() : m.end()]))
    for m in _MONTH_DAY.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        strong = _STRONG_BEFORE.search(before)
        if (strong or (_DATE_BEFORE.search(before) and _DATE_AFTER.match(text, m.end()))) and not _UNIT_AFTER.match(
            text, m.end()
        ):
            spans.append(Span("date", m.start(), m.end(), original[m.start() : m.end()]))
    return spans


def fill_gaps(found: list[Span], extra: list[Span]) -> list[Span]:
    """`found` plus each span of `extra` that overlaps none of them."""
    kept = [s for s in extra if all(s.end <= f.start or s.start >= f.end for f in found)]
    return found + kept
