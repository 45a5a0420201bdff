"""PHI by its shape where no known label names it: the fallbacks for number labels, date forms and places never seen.

    labelled_numbers("透析号 HD-0137", ...)   # [Span("record", 4, 11, "HD-0137")]
    short_dates("3.10出院", ...)              # [Span("date", 0, 4, "3.10")]

- A long run of digits (letters may lead or trail) right after ANY short label ending in 号/码/编号/No./#/ID or a
  short capitalised acronym (透析号 HD-0137, 警号016533, NHI: ZAC4821, CCF #: 77329104) is an identifier: a
  hospital invents new number labels faster than a list can follow. A decimal, a unit or a ratio after it is a
  measurement and stays (FEV1 1.62L, CA 19-9, CK 12800U/L); labels of things (批号, 型号, 设备编号) are left out.
  These only fill gaps: a span here never replaces one a known label found (fill_gaps).
- Short dates (3.10出院, 4/8出院, Admitted 3/9, 25/3/5, 25-04-02, 11-JAN-1964, Mon, 10 Mar 2025): a month and a day
  with no year are a date only where a date stands (a verb of admission or discharge after it, a time after it, a
  cell or line of its own, "on"/"admitted" or 于 before it), never before a unit (3.10 mmol/L) or inside a number.
- Phones written with a country code (+92 300 1234567).
- Addresses by their administrative chain without a province (鲁甸县龙头山镇翠屏村三社, 朝阳区望京街道) and
  postcodes after their label (邮编：100083).
- Exports pasted as text: the columns of a CSV or tab-separated table by their header (姓名, 主管医师, 住院号), JSON
  values by their key ("name", "doctor") and HL7 fields by their position (PID-5, PV1-7).
"""

from __future__ import annotations

import re

from qilin.privacy.layout import CELL_WORDS
from qilin.privacy.roles import medical_word_from
from qilin.privacy.spans import Span

# A short label ending in a number word. Labels of things that are not a person's (批号, 型号, 文号: a drug batch or
# approval number; 床号: a bed) are left out, as are phone labels (the phone rules read them).
_CN_NUMBER_LABEL = r"(?<![\u4e00-\u9fff])[\u4e00-\u9fff]{0,6}(?:号|号码|码|编号|ID|id|No\.?)"
_NOT_PERSONAL = re.compile(
    r"(?:批|型|文|准|床|信|序|字|电话|手机|座机|传真|邮政|邮|货|版|款|暗|密|页|次|代|尺|设备|药品|药|械|耗材|"
    r"产品|试剂|仪器|资产)"
    r"(?:号|号码|码|编号)$"
)
_EN_NUMBER_LABEL = (
    r"(?<![\w\-/])(?:[A-Z]{2,5}|[A-Z][a-z]+(?:[ \t][A-Z][a-z]+)?[ \t](?:ID|No\.?|Number|#|Card)|(?i:passport|id|"
    r"no\.?|ref))"
    r"(?![\w\-])"
)
_VALUE = r"(?:[A-Z]{1,5}[-/ ]?){0,2}\d[\dA-Z]*(?:[-/ (]\d[\dA-Z]*\)?|[-/][A-Z]{1,4}\b)*(?:[A-Z]{1,2}\b)?"
# A value stands right after a label's last character or its separator (号, 码, #, a colon, a pipe, a space): most
# digits in a note follow a Chinese character (每日3次) and are not tried at all. The value is group 1.
_VALUE_AT = re.compile(
    rf"[号码#:：|｜ \t\n]({_VALUE})(?![A-Za-z0-9_%/]|\.[A-Za-z0-9])"
)  # a full stop may end it  # opens with a character: a fast scan
_LETTER_GROUP = re.compile(r"[A-Z]{1,5}[-/ ]?")
_LABEL_END = re.compile(rf"({_CN_NUMBER_LABEL}|{_EN_NUMBER_LABEL})[ \t]*#?[ \t]*[:：|]?[ \t]*\Z")
# What a measurement has after its number (a unit) or an acronym label has when it names a test, not a person.
_UNIT_AFTER = re.compile(
    r"[a-zA-Zμµ%‰℃°×^*]|[ \t]?(?:[μµ%‰℃°×^*]|[个次分秒岁天周月年倍级度期型份片粒支瓶袋克升]|"
    r"(?:mmol|umol|mg|g|kg|ml|mL|L|dL|U|IU|mm|cm|mmHg|bpm|min|h|hr|hrs|days?|weeks?|mo|y|yo|x|times|cells)\b)"
)
_TEST_ACRONYMS = set(
    [
        "ICD",
        "CA",
        "CEA",
        "AFP",
        "PSA",
        "BP",
        "HR",
        "RR",
        "EF",
        "INR",
        "LDL",
        "HDL",
        "NIHSS",
        "GCS",
        "APACHE",
        "SOFA",
        "PHQ",
        "GAD",
        "HAMD",
        "MMSE",
        "BMI",
        "FEV",
    ]
)
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
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?[ \t]+{_MONTH}\b(?![ \t]*\d)"  # 4 Dec, 1 December: no year
)
# Dates a Taiwan note, an HL7 message or a scan writes: 民国 years (115/11/30, 108年6月5日), an HL7 field's yyyymmdd
# (|19930306|, and the date of a timestamp |20261204083311|; 批号：20230415 is a batch), spaces around slashes (2026 /
# 11 / 29).
_MORE_DATES = re.compile(  # each branch opens with a digit or a pipe, the checks behind it come after (a fast scan)
    r"1(?<![\d/.]1)[01]\d(?:[ \t]*年[ \t]*\d{1,2}[ \t]*月(?:[ \t]*\d{1,2}[ \t]*[日号])?"
    r"|([/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?![\d/.]))"
    r"|[|^](?P<hl7>(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
    r"(?=\d{4}(?:\d\d)?(?![\dA-Za-z\-])|(?![\dA-Za-z\-]))"
    r"|(?:19|20)(?<!\d\d\d)\d\d[ \t]*/[ \t]*(?:0?[1-9]|1[0-2])[ \t]*/[ \t]*(?:0?[1-9]|[12]\d|3[01])(?!\d)"
)
# A month alone after since/until (since November); May and March are words elsewhere, so only here.
_MONTH_ALONE = re.compile(
    r"\b(?:[Ss]ince|[Uu]ntil|[Ff]rom|[Ee]arly|[Ll]ate|[Mm]id-|[Oo]n|[Nn]ext|[Ll]ast)[ \t]*"
    r"(January|February|March|April|June|July|August|September|October|November|December|"
    r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day(?:[ \t]+\d{1,2}(?:st|nd|rd|th)\b)?)\b"
)
_TIME_AFTER = re.compile(r"[ \t]+\d{1,2}:\d{2}(?::\d{2})?")
# A year of two digits first (25/3/5, 25-04-02, 25.4.3): a first number over 12 cannot be a month.
_YY_DATE = re.compile(
    r"(?<![\d./\-])(?:1[3-9]|[23]\d)([/.\-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?![\d/\-]|\.\d)"
)
_MONTH_DAY = re.compile(
    r"(?<![\d./\-:])(?:0?[1-9]|1[0-2])([./])(?:0?[1-9]|[12]\d|3[01])(?![\d/]|\.\d)(?!" + _UNIT_AFTER.pattern + ")"
)  # the unit test inside the pattern: most decimals (0.5mg) never reach Python
# Where a month and day with no year stand as a date: before a time, a verb of a stay, the end of a cell or line.
_DATE_AFTER = re.compile(
    r"[ \t]*(?:\d{1,2}[:：]\d{2}|\n|$|[ \t]{2}|\t)"
    r"|(?:入院|出院|转入|转出|手术|术后|复查|复诊|就诊|起|开始|至|到|在|行|于|再次|凌晨|上午|下午|晚上?|夜间?|早上?|"
    r"中午|门诊|急诊|住院|来院|收入|拔管|拆线|随访|查|予|给予|夜班|白班|发病|发热|出现)"
)
_DATE_BEFORE = re.compile(r"(?:^|[\n\t]|[ \t]{2}|[，,；;。（(、]|\][ \t]*|[\u4e00-\u9fff）)][ \t]+)$")
# Words after which a month/day is a date whatever follows (于3.10 but not 低于6.2; Admitted 3/9, on 3/10).
_STRONG_BEFORE = re.compile(
    r"(?:(?:入院|出院|日期|时间|手术|复查|复诊|随访)[ \t]*[:：][ \t]*|(?<![低高大小等多少介])于|"
    r"(?i:\b(?:on|admitted|discharged|since|until|placed|seen|dated|check|dos|"
    r"returned|started|"
    r"stopped|"
    r"due|scheduled|booked))[ \t]+)$"
)


_LATIN = re.compile(r"[A-Za-z]")
_SHORT_DATE_GATE = re.compile(r"\d[./\-]\d")
_DIGIT = re.compile(r"\d")
_MONTH_GATE = re.compile(
    r"Jan|Feb|Ma[ry]|Apr|Ju[nl]|Aug|Sep|Oct|Nov|Dec|JAN|FEB|MA[RY]|APR|JU[NL]|AUG|SEP|OCT|NOV|DEC|day"
)
# Where a labelled number can be: a run of four digits, or digit groups (2953 71406 1).
_NUMBER_GATE = re.compile(r"\d\d(?:\d\d|[ \-/]\d\d)")  # one branch opening with a digit: a fast scan


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
    spans: list[Span] = []
    # The value first (rare: four digits or digit groups), then its label read backwards: a scan for labels is slower.
    for v in _VALUE_AT.finditer(text) if _NUMBER_GATE.search(text) else ():
        if sum(c.isdigit() for c in v.group(1)) < 4:
            continue
        # the letters that open a match may be the label (MRN BWH 22-871-554, IMC 412339): try after each group
        starts, lead = [v.start(1)], _LETTER_GROUP.match(v.group(1))
        while lead and lead.end() < len(v.group(1)):
            starts.append(v.start(1) + lead.end())
            lead = _LETTER_GROUP.match(v.group(1), lead.end())
        found = next(((i, m) for i in starts if (m := _LABEL_END.search(text, max(0, i - 24), i))), None)
        if not found:
            continue
        v_start, m = found
        label, value = m.group(1), text[v_start : v.end()].rstrip(" -/")
        digits = sum(c.isdigit() for c in value)
        if _NOT_PERSONAL.search(label) or label.upper() in _TEST_ACRONYMS or (label in ("ID", "id") and not digits):
            continue
        letters = any(c.isalpha() for c in value)
        acronym = label[:1].isupper() and label.isalpha() and label.isupper()
        if acronym and not value[0].isalpha() and (letters or digits < 6):
            continue  # CK 12800U/L, HR 88, CA 19-9: a test with its value (an acronym's id is long or lettered)
        if digits < 4 or _UNIT_AFTER.match(text, v_start + len(value)):
            continue  # FEV1 1.62L: a measurement
        start = v_start
        spans.append(Span(_number_type(label), start, start + len(value), original[start : start + len(value)]))
    return spans


def short_dates(text: str, original: str) -> list[Span]:
    """Dates in short forms: 25/3/5, 11-JAN-1964, Mon, 10 Mar 2025, and a month.day where a date stands (3.10出院)."""
    months = _LATIN.search(text) and _MONTH_GATE.search(text)  # the English patterns only where a month can be
    spans = [Span("date", m.start(1), m.end(1), m.group(1)) for m in (_MONTH_ALONE.finditer(text) if months else ())]
    more = _MORE_DATES.finditer(text) if _DIGIT.search(text) else ()
    for m in more:
        start = m.start("hl7") if m.group("hl7") else m.start()  # |19930306|: the pipe is no part of it
        spans.append(Span("date", start, m.end(), original[start : m.end()]))
    for m in _LONG_DATE.finditer(text) if months else ():
        time = _TIME_AFTER.match(text, m.end())  # Mon, 10 Mar 2025 07:52: the time goes with it
        end = time.end() if time and text[m.end() - 1].isdigit() else m.end()
        spans.append(Span("date", m.start(), end, original[m.start() : end]))
    # the short forms are read only around a digit, a separator and a digit (a fast scan), not over the whole text
    windows = [(max(0, g.start() - 2), g.end() + 8) for g in _SHORT_DATE_GATE.finditer(text)]
    if not windows:
        return spans
    found = {m.span(): m for lo, hi in windows for m in _YY_DATE.finditer(text, lo, hi)}
    for m in found.values():
        if not _UNIT_AFTER.match(text, m.end()):
            spans.append(Span("date", m.start(), m.end(), original[m.start() : m.end()]))
    for m in {m.span(): m for lo, hi in windows for m in _MONTH_DAY.finditer(text, lo, hi)}.values():
        before = text[max(0, m.start() - 12) : m.start()]
        if _UNIT_AFTER.match(text, m.end()):
            continue  # 3.10 mmol/L: most decimals have a unit, so this test goes first
        if _STRONG_BEFORE.search(before) or (_DATE_BEFORE.search(before) and _DATE_AFTER.match(text, m.end())):
            spans.append(Span("date", m.start(), m.end(), original[m.start() : m.end()]))
    return spans


def fill_gaps(found: list[Span], extra: list[Span]) -> list[Span]:
    """`found` plus each span of `extra` that overlaps none of them."""
    kept = [s for s in extra if all(s.end <= f.start or s.start >= f.end for f in found)]
    return found + kept


# An address without its province: a city, prefecture or county, then a smaller unit (鲁甸县龙头山镇翠屏村三社,
# 朝阳区望京街道, 楚雄市鹿城镇, 黔东南州雷山县西江镇); the name before the first unit starts after a function word.
_PLACE_CHAR = r"(?:(?![住在于的是和与及到至从赴往去回来送经由为其原现曾我你他她们患者院科部病房床])[\u4e00-\u9fff])"
_INNER_CHAR = r"(?:(?![的和与及在于是为，])[\u4e00-\u9fff])"  # 学院路 inside the chain
_AREA = r"(?:市|州|地区|盟|区|县|旗)"
_SMALLER = r"(?:市|区|县|旗|镇|乡|街道|村|社区|路|街|大道|巷|弄|里|小区|[一二三四五六七八九十\d]+(?:组|社|队))"  # 州…市
_ADMIN_CHAIN = re.compile(
    rf"{_PLACE_CHAR}{{2,5}}?{_AREA}(?:{_INNER_CHAR}{{0,6}}?{_SMALLER}|[一二三四五六七八九十\d]+(?:组|社|队)){{1,5}}"
    r"(?:[\d\-]+(?:号院|号楼|号|栋|幢|弄|单元|门|室|楼|层)|[一二三四五六七八九十]+号)*"
)
_AREA_GATE = re.compile(r"[市州区县旗盟]")
_CITY_BEFORE = re.compile(r"[市州][\u4e00-\u9fff]{1,4}区")
# Words that end in an area character but name no place (病区, 术区, 心尖区, 社区医院 is an org).
_NOT_PLACES = re.compile(
    r"(?:病|术|心尖|肝|脾|胃|腹|背|腰|臀|会阴|颈|胸|额|颞|枕|顶|盲|禁|疫|灾|城|市|景|园|郊|辖|地|山|牧|林|矿|校|厂)区"
)
_POSTCODE = re.compile(
    r"(?:邮编|邮政编码|(?i:post\s?code|zip(?:\s?code)?))[ \t]*[:：]?[ \t]*(\d{5,6}(?:-\d{4})?)(?!\d)"
)


def places(text: str, original: str) -> list[Span]:
    """Addresses by their administrative chain without a province, and postcodes after their label."""
    spans = []
    for m in _ADMIN_CHAIN.finditer(text) if _AREA_GATE.search(text) else ():
        city = _CITY_BEFORE.search(m.group())  # 乌鲁木齐市天山区: 山区 after a city is a district's end, not a word
        if (city or not _NOT_PLACES.search(m.group())) and not medical_word_from(text, m.start(), 2):
            spans.append(Span("address", m.start(), m.end(), original[m.start() : m.end()]))
    for m in _POSTCODE.finditer(text) if "邮" in text or "ode" in text or "ZIP" in text else ():
        spans.append(Span("address", m.start(1), m.end(1), m.group(1)))
    return spans


# A user name: letters and digits joined by an underscore, with a digit (chunyu_83726601, jmorales_75), anywhere
# (not after an acronym: DWI_b1000 is an MRI sequence);
# or any handle with an underscore or a Latin letter after a user-name label (微信名：向日葵_lily, [用户:nurse_li]).
_HANDLE_SHAPE = re.compile(r"(?<![\w@./\\-])(?![A-Z]{2})[A-Za-z\u4e00-\u9fff][\w]*_[\w]*\d[\w]*(?![\w@.\-])")
_USER_LABEL = re.compile(r"(?:用户名?|微信名|昵称|网名|(?i:user))[ \t]*[（(:：]?[ \t]*([\w\u4e00-\u9fff]{2,30})")


def user_names(text: str, original: str) -> list[Span]:
    """Accounts by the shape of a user name, and after a user-name label (the value holds _ or a Latin letter)."""
    if "_" not in text:
        return []
    spans = [Span("account", m.start(), m.end(), original[m.start() : m.end()]) for m in _HANDLE_SHAPE.finditer(text)]
    for m in _USER_LABEL.finditer(text):
        value = m.group(1)
        if "_" in value and any(c.isascii() and c.isalpha() for c in value):
            spans.append(Span("account", m.start(1), m.end(1), original[m.start(1) : m.end(1)]))
    return spans


# Exports pasted as text. A header row of a CSV or tab-separated table names its columns: a column headed by a
# person's label (姓名, 主管医师, 责任护士, Name) holds names, one headed by a number label (住院号, 患者ID, MRN) record
# numbers. JSON keys do the same ("name": "...", "doctor": "..."), and HL7 segments by position (PID-5 the patient,
# PV1-7..9 the doctors, NK1-2 a relative; PID-2..4 the patient's identifiers).
_NAME_HEADER = re.compile(
    r"(?:姓名|患者|病人|患儿|医师|医生|大夫|护士|护师|药师|技师|联系人|家属|监护人|签名|操作者|录入|录入人|审核|审核人|"
    r"(?i:name|patient|doctor|physician|nurse|provider|surgeon|attending|contact|guardian|staff|user))$"
)
_RECORD_HEADER = re.compile(
    r"(?:住院号|门诊号|病历号|病案号|登记号|就诊号|档案号|ID|ID号|(?i:mrn|id|record\s*no\.?|hosp\s*no\.?))$"
)
_JSON_NAME = re.compile(
    r"\"(?:姓名|患者|医生|医师|护士|联系人|(?i:(?:patient|full|first|last|family|given|doctor|nurse)?_?name|doctor|"
    r"physician|nurse|attending|surgeon|contact|guardian|provider))\"\s*:\s*\"([^\"\n\d]{2,40})\""
)
_HL7_FIELDS = {"PID": {5: "name", 2: "record", 3: "record", 4: "record"}, "PV1": {7: "name", 8: "name", 9: "name"}}
_HL7_FIELDS["NK1"] = {2: "name"}


def _cells(line: str, sep: str) -> list[tuple[int, str]]:
    """(offset in the line, value) of each cell, spaces around a value dropped."""
    cells, pos = [], 0
    for raw in line.split(sep):
        value = raw.strip()
        cells.append((pos + (raw.index(value) if value else 0), value))
        pos += len(raw) + 1
    return cells


def _column_spans(lines: list[tuple[int, str]]) -> list[Span]:
    spans: list[Span] = []
    columns: dict[int, str] = {}
    sep = ""
    for offset, line in lines:
        line_sep = "\t" if line.count("\t") >= 2 else "," if line.count(",") >= 2 else ""
        if not line_sep:
            columns = {}
            continue
        cells = _cells(line, line_sep)
        heads = {
            i: ("name" if _NAME_HEADER.search(v) else "record")
            for i, v in enumerate(c[1] for c in cells)
            if 0 < len(v) <= 12 and not _DIGITS.search(v) and (_NAME_HEADER.search(v) or _RECORD_HEADER.search(v))
        }
        if heads and all(len(v) <= 16 and not _DIGITS.search(v) for _, v in cells):  # a header row
            columns, sep = heads, line_sep
            continue
        for i, kind in columns.items() if line_sep == sep else ():
            if i >= len(cells) or not cells[i][1]:
                continue
            start, value = offset + cells[i][0], cells[i][1]
            if kind == "record" and _DIGITS.search(value) and len(value) >= 4:
                spans.append(Span("record", start, start + len(value), value))
            elif kind == "name" and not _DIGITS.search(value) and value not in CELL_WORDS and len(value) <= 40:
                spans.append(Span("name", start, start + len(value), value, role="patient"))
    return spans


_DIGITS = re.compile(r"\d")


def export_cells(text: str) -> list[Span]:
    """Names and record numbers in the columns of a CSV or tab-separated export, JSON values and HL7 fields."""
    spans: list[Span] = []
    if "\t" in text or "," in text or "|" in text:
        lines, pos = [], 0
        for line in text.split("\n"):
            lines.append((pos, line))
            pos += len(line) + 1
        spans += _column_spans(lines)
        for offset, line in lines if "|" in text else ():
            fields = _HL7_FIELDS.get(line[:3]) if line[3:4] == "|" else None
            for i, kind in (fields or {}).items():
                cells = _cells(line, "|")
                if i < len(cells) and cells[i][1]:
                    spans += _hl7_field(offset + cells[i][0], cells[i][1], kind)
    for m in _JSON_NAME.finditer(text) if '":' in text or '" :' in text else ():
        spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    return spans


def _hl7_field(start: int, value: str, kind: str) -> list[Span]:
    """An HL7 field's PHI: a name without its leading id (H0217^管^思远 -> 管^思远), a record number's first part."""
    parts = value.split("^")
    if kind == "record":
        first = parts[0]
        return [Span("record", start, start + len(first), first)] if _DIGITS.search(first) and len(first) >= 4 else []
    skip = 0
    while skip < len(parts) and (not parts[skip] or _DIGITS.search(parts[skip])):
        skip += 1
    name = "^".join(parts[skip:]).rstrip("^")
    if not name or _DIGITS.search(name):
        return []
    begin = start + len("^".join(parts[:skip])) + (1 if skip else 0)
    return [Span("name", begin, begin + len(name), name, role="staff" if kind == "name" and skip else "patient")]


# A handle written with its @ anywhere (not an email: nothing name-like before the @).
_AT_HANDLE = re.compile(r"(?<![A-Za-z0-9._%+\-])@[\u4e00-\u9fffA-Za-z0-9_]{2,30}")
_CJK_ONLY = re.compile(r"[\u4e00-\u9fff]+")


def mentions(text: str, original: str) -> list[Span]:
    """@handles: an account, but a short Chinese one in a chat is a person (@萌萌; @所有人 and @全体 are no one)."""
    spans = []
    for m in _AT_HANDLE.finditer(text):
        handle = m.group()[1:]
        if _CJK_ONLY.fullmatch(handle) and len(handle) <= 4:
            if handle not in ("所有人", "全体", "全体成员", "大家"):
                spans.append(Span("name", m.start() + 1, m.end(), original[m.start() + 1 : m.end()], role="polite"))
        else:
            spans.append(Span("account", m.start(), m.end(), original[m.start() : m.end()]))
    return spans
