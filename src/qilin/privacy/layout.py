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
from functools import lru_cache

from qilin.privacy.names import _TITLE_AT
from qilin.privacy.roles import (
    DRUG_CHARACTERS,
    NOT_IN_GIVEN_NAMES,
    STAFF,
    SURNAMES,
    is_common_word,
    medical_word_from,
    medical_words,
    opens_medical_word,
    surname_length,
    tagged_as_name,
    words,
)
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
    rf"({_CN_NUMBER_LABEL}|{_EN_NUMBER_LABEL})[ \t]*#?[ \t]*[:：|]?[ \t]*({_VALUE})(?![A-Za-z0-9_.%/])"
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
_LATIN = re.compile(r"[A-Za-z]")
_SHORT_DATE_GATE = re.compile(r"\d[./\-]\d")
# Where a labelled number can be: a run of four digits, or digit groups (2953 71406 1).
_NUMBER_GATE = re.compile(r"\d{4}|\d\d[ \-/]\d\d")


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
    windows: list[list[int]] = []
    for g in _NUMBER_GATE.finditer(text):  # the label sits at most ~20 characters before its number
        lo, hi = max(0, g.start() - 24), min(len(text), g.end() + 24)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = hi
        else:
            windows.append([lo, hi])
    matches = (m for lo, hi in windows for m in _LABELLED_NUMBER.finditer(text, lo, hi))
    for m in matches:
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
    latin = _LATIN.search(text)
    spans = [Span("date", m.start(1), m.end(1), m.group(1)) for m in (_MONTH_ALONE.finditer(text) if latin else ())]
    if not _DIGIT.search(text):
        return spans
    for m in _LONG_DATE.finditer(text) if latin else ():
        time = _TIME_AFTER.match(text, m.end())  # Mon, 10 Mar 2025 07:52: the time goes with it
        end = time.end() if time and text[m.end() - 1].isdigit() else m.end()
        spans.append(Span("date", m.start(), end, original[m.start() : end]))
    if not _SHORT_DATE_GATE.search(text):
        return spans
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


# Names in the cells of a table or a form laid out with pipes, tabs or runs of spaces (姓名|司马乐天|性别,
# 检验者 向阳  审核 尚, 麻醉 鄢、柳红；器械 唐糖): a label a name follows, a separator, a cell holding only the name.
_HEADER_LABELS = words(
    "姓名 患者姓名 病人姓名 就诊人 受检者 先证者 户主 患儿 患者 病人 父亲 母亲 父 母 家长 监护人 签名 患者签名 "
    "签字 患方签字 患者签字 家属签字 联系人 配偶 丈夫 妻子 新生儿 婴儿 被保险人 参保人 申请人 报销人 委托人"
)
_STAFF_LABELS = words(
    " ".join(w for w in STAFF if len(w) >= 2),
    "医生 医师 护士 药师 检验 检验者 检验师 报告 报告者 分析 分析者 调剂 调配 复核 核对 发药 核对/发药 评估员 评估 经办 "
    "经办人 交接人 操作者 操作 申请医师 送检医师 转出医师 转入医师 术者 器械 巡回 洗手护士 器械护士 巡回护士 新生儿复苏 "
    "体外循环师 记录人 随访护士 值班医生 值班医师 主刀 助手 麻醉 一助 二助 审核 审核者 医师签名 责任护士 白班 小夜 大夜 "
    "夜班 夜班护士 白班护士 接诊 首诊 主管 评估护士 宣教护士",
)
# A cell's separator; the label before it is read backwards and looked up (faster than scanning for 200 labels).
_CELL_SEP = re.compile(r"[ \t　]*[|｜:：\t][ \t　]*|[ 　]+")
# A run of characters after a cell boundary and before a separator: a label if it is one of the labels above (a
# set lookup: faster than a regular expression of 200 labels).
_CELL_LABELS = frozenset(_HEADER_LABELS + _STAFF_LABELS)
_CELL_LABEL = re.compile(
    r"(?:^|(?<=[\n\t|｜；;，,、 　]))([\u4e00-\u9fff/]{0,7}["
    + "".join(sorted({label[-1] for label in _CELL_LABELS}))
    + r"])(?=[ \t　]*[|｜:：\t]|[ 　]+[\u4e00-\u9fff])"
)
_LIST_NEXT = re.compile(r"[ \t　]*[、/][ \t　]*")
_CELL = re.compile(r"([\u4e00-\u9fff]{1,4}(?:·[\u4e00-\u9fff]{2,8})?)(?=[ \t　]*(?:[|｜\t\n、；;，,（(/]|$)|[ 　]{2})")
# What a staff or header cell holds when it holds no name.
_CELL_WORDS = set(
    words(
        "通过 正常 同意 拒绝 不同意 无 不详 未见 阴性 阳性 合格 完成 良好 已签 本人 家属 全麻 局麻 腰麻 全身麻醉 局部麻醉 "
        "神经阻滞 静脉麻醉 镇静 男 女 未婚 已婚 汉族 汉 主任 医生 医师 护士 见下 如下 同上 待定 待查 签字 签名 盖章 手印 "
        "确认 已阅 知情 代签 电话 日期 时间 性别 年龄 科室 床号 诊断 住址 职业 民族 其他 暂无 不适用 自费 医保 公费 在职 退休 "
        "值班 白班 夜班 交班 接班 主刀 助手 器械 巡回 麻醉 审核 复核 报告 检验 记录 核对 患者 病人 患儿 "
        # the section labels of a note, which open a line the way a speaker's tag does (jieba tags some as names)
        "查体 体检 续方 方药 处方 医嘱 处置 辅检 辅查 复查 随访 转归 结论 印象 建议 备注 费别 主诉 现病史 既往史 个人史 "
        "家族史 婚育史 月经史 过敏史 专科 体征 病史 治疗 计划 评估 诊疗 用法 剂量 疗程 症状 舌脉 舌象 脉象 证型 治法"
    )
)


def _cell_is_name(value: str, staff: bool) -> bool:
    if value in _CELL_WORDS or value in medical_words():
        return False
    if "·" in value:  # 阿依古丽·买买提: a transliterated name
        return True
    s = surname_length(value, 0, rare=True)
    given = value[s:]
    if not s or len(given) > 2 or any(c in NOT_IN_GIVEN_NAMES or c in DRUG_CHARACTERS for c in given):
        return len(value) in (2, 3) and not s and tagged_as_name(value)
    if not given:
        return staff  # 审核：尚, 医生 吉: a bare surname signs a staff cell
    return not medical_word_from(value, 0, len(value)) and not _TITLE_AT.match(value, s)


def table_names(text: str) -> list[Span]:
    """Names as the values of label cells in tables and forms, and the names listed after them (鄢、柳红)."""
    spans = []
    for m in _CELL_LABEL.finditer(text):
        label = m.group(1)
        if label not in _CELL_LABELS:
            continue
        start = m.start(1)
        if start and text[start - 1] in " 　" and (start < 2 or text[start - 2] not in " 　\t\n"):
            continue  # a label after one space is prose; a cell starts after a run of spaces
        staff = label in _STAFF_SET
        pos = _CELL_SEP.match(text, m.end()).end()
        while cell := _CELL.match(text, pos):
            if not _cell_is_name(cell.group(1), staff):
                break
            spans.append(Span("name", cell.start(1), cell.end(1), cell.group(1), role="staff" if staff else "patient"))
            nxt = _LIST_NEXT.match(text, cell.end())
            if not nxt:
                break
            pos = nxt.end()
    for m in _ROW_NAME.finditer(text) if "|" in text or "\t" in text or "｜" in text else ():  # 3 | 方圆 | 急性阑尾炎术后: a name after a bed or row number
        if _cell_is_name(m.group(1), staff=False):
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    return spans


_STAFF_SET = set(_STAFF_LABELS) - set(_HEADER_LABELS)
_ROW_NAME = re.compile(r"(?:^|\n)[ \t|｜]*[+＋]?\d{1,3}(?:床)?[ \t]*[|｜\t][ \t]*([\u4e00-\u9fff]{2,4})[ \t]*[|｜\t]")
# A speaker's tag opening a line of a chat (老王：, 小李:, 柏姐：, 王：, 晓雯：, 护士霍：, [护士小邱], 萱萱爸爸：).
_TAG_LINE = r"[ \t]*(?:\[[^\]\n]{0,24}\][ \t]*|\d{1,2}:\d{2}(?::\d{2})?[ \t]+)?"
_SPEAKER_TAG = re.compile(
    _TAG_LINE + r"(?:(?P<role>护士|医生|医师|大夫|药师|护士长|心内|心外|消化|急诊)?(?P<pre>[小老阿])?"
    r"(?P<tag>[\u4e00-\u9fff]{1,3}?)(?P<kin>姐|哥|叔|姨|嫂|伯|婶|爸爸|妈妈|奶奶|爷爷|外婆|姥姥)?)[ \t]*[:：]"
)
_BRACKET_TAG = re.compile(r"\[(?:护士|医生|医师|大夫|药师|护士长)(?P<pre>[小老])?(?P<tag>[\u4e00-\u9fff]{1,2})\]")
_NOT_SPEAKERS = set("注附时左右男女答问医患护父母妻夫子甲乙丙丁和于向我你他她您")

_NEWLINE = re.compile("\n")
_CHILD_OF = ("爸爸", "妈妈", "奶奶", "爷爷", "外婆", "姥姥")
_NOT_CHILDREN = set(words("孩子 宝宝 患者 患儿 病人 我 你 他 她 您 大家 各位 家属"))


@lru_cache(maxsize=65536)
def _tag_is_name(tag: str, kin: str, prefix: bool) -> bool:
    """Whether a speaker tag's core is a name, given the kinship word and the prefix (小/老/a role) around it."""
    if kin in _CHILD_OF:  # 萱萱爸爸：, 小石头妈妈：: the child the parent is named after
        return tag not in _NOT_CHILDREN and tag not in medical_words()
    if kin or prefix:  # 柏姐：, 老王：, 护士霍：, 心内曹操：
        return surname_length(tag, 0, rare=True) == len(tag) or (prefix and _cell_is_name(tag, staff=True))
    if len(tag) == 1:  # 王：, 骆：
        return tag in SURNAMES and tag not in _NOT_SPEAKERS
    if _TITLE_AT.search(tag) or tag in medical_words() or is_common_word(tag) or tag in _CELL_WORDS:
        return False  # 蓝主任： (the title rule), 查体：, 诊断：
    # a field label opens a line the same way (查体：, 门诊号：, 申请人：): only jieba's name tag tells them apart
    return not opens_medical_word(tag, 0) and tagged_as_name(tag)  # 杜晓雯：, 晓雯：


def speaker_names(text: str) -> list[Span]:
    """Names in the speaker tags that open the lines of a chat or a group log."""
    spans = []
    starts = [0] + [m.end() for m in _NEWLINE.finditer(text)] if ":" in text or "：" in text else []
    for m in filter(None, (_SPEAKER_TAG.match(text, i) for i in starts)):
        if _tag_is_name(m.group("tag"), m.group("kin") or "", bool(m.group("pre") or m.group("role"))):
            spans.append(Span("name", m.start("tag"), m.end("tag"), m.group("tag"), role="polite"))
    for m in _BRACKET_TAG.finditer(text) if "[" in text else ():
        if surname_length(m.group("tag"), 0, rare=True) == len(m.group("tag")):
            spans.append(Span("name", m.start("tag"), m.end("tag"), m.group("tag"), role="staff"))
    return spans


def layout_names(text: str) -> list[Span]:
    """Chinese names found by layout: table and form cells, chat speaker tags."""
    if not re.search("[\u4e00-\u9fff]", text):
        return []
    return table_names(text) + speaker_names(text)


# An address without its province: a city, prefecture or county, then a smaller unit (鲁甸县龙头山镇翠屏村三社,
# 朝阳区望京街道, 楚雄市鹿城镇, 黔东南州雷山县西江镇); the name before the first unit starts after a function word.
_PLACE_CHAR = r"(?:(?![住在于的是和与及到至从赴往去回来送经由为其原现曾我你他她们患者院科部病房床])[\u4e00-\u9fff])"
_INNER_CHAR = r"(?:(?![的和与及在于是为，])[\u4e00-\u9fff])"  # 学院路 inside the chain
_AREA = r"(?:市|州|地区|盟|区|县|旗)"
_SMALLER = r"(?:区|县|旗|镇|乡|街道|村|社区|路|街|大道|巷|弄|里|小区|[一二三四五六七八九十\d]+(?:组|社|队))"
_ADMIN_CHAIN = re.compile(
    rf"{_PLACE_CHAR}{{2,5}}?{_AREA}(?:{_INNER_CHAR}{{0,6}}?{_SMALLER}|[一二三四五六七八九十\d]+(?:组|社|队)){{1,5}}"
    r"(?:[\d\-]+(?:号院|号楼|号|栋|幢|弄|单元|门|室|楼|层)|[一二三四五六七八九十]+号)*"
)
_AREA_GATE = re.compile(r"[市州区县旗盟]")
# Words that end in an area character but name no place (病区, 术区, 心尖区, 社区医院 is an org).
_NOT_PLACES = re.compile(r"(?:病|术|心尖|肝|脾|胃|腹|背|腰|臀|会阴|颈|胸|额|颞|枕|顶|盲|禁|疫|灾|城|市|景|园|郊|辖|地|山|牧|林|矿|校|厂)区")
_POSTCODE = re.compile(r"(?:邮编|邮政编码|(?i:post\s?code|zip(?:\s?code)?))[ \t]*[:：]?[ \t]*(\d{5,6}(?:-\d{4})?)(?!\d)")


def places(text: str, original: str) -> list[Span]:
    """Addresses by their administrative chain without a province, and postcodes after their label."""
    spans = []
    for m in _ADMIN_CHAIN.finditer(text) if _AREA_GATE.search(text) else ():
        if not _NOT_PLACES.search(m.group()) and not medical_word_from(text, m.start(), 2):
            spans.append(Span("address", m.start(), m.end(), original[m.start() : m.end()]))
    for m in _POSTCODE.finditer(text) if "邮" in text or "ode" in text or "ZIP" in text else ():
        spans.append(Span("address", m.start(1), m.end(1), m.group(1)))
    return spans
