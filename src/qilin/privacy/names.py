"""Person names: Chinese names where a clinical context announces them; English ones come from names_en.

    find_names("患者王小明因发热入院，家属李华陪同")   # [Span("name", 2, 5, "王小明"), Span("name", 13, 15, "李华")]

A Chinese name needs a context: a label or role before it (患者/家属/之子/医生/主刀：/姓名：/我叫; 患者： opening a line
only if a name stands alone after it), a title after it (张医生 masks 张), a sentence it opens with sex or age (刘洋，
男，32岁), a signature verb after it (刘刚签字), 张某某. jieba's segmentation decides where a given name ends. A word
opening a medical term (唐氏, 高钾血症: not_names.txt, the knowledge base) or a common word is no name. Role hints
(patient, family, staff, polite) let record.py read 赵女士 as 赵丽颖.
"""

from __future__ import annotations

import re
from functools import lru_cache

from qilin.privacy.names_en import english_names
from qilin.privacy.roles import (
    CLINICAL_WORDS,
    COMPOUND_SURNAMES,
    DRUG_CHARACTERS,
    FAMILY,
    NEED_COLON,
    NOT_IN_GIVEN_NAMES,
    PATIENT,
    POLITE_TITLES,
    STAFF,
    STAFF_TITLES,
    SURNAMES,
    THING_BEFORE_BRACKET,
    THING_LABEL,
    is_common_word,
    medical_word_across,
    medical_word_ending,
    medical_word_from,
    opens_medical_word,
    segmenter,
    surname_length,
    tagged_as_name,
    trie_pattern,
)
from qilin.privacy.roles import words as _words
from qilin.privacy.spans import Span

_HINT = {**dict.fromkeys(PATIENT, "patient"), **dict.fromkeys(FAMILY, "family"), **dict.fromkeys(STAFF, "staff")}
_HINT_WORDS = tuple(_HINT)  # str.startswith takes a tuple: one call, not one a word
# A label, then its separator: a colon (or 】), perhaps after an aside (委托人（签字）：), a space, or 叫.
_ROLE_RE = re.compile(
    "(?P<role>" + trie_pattern(_HINT) + r")(\s*(?:[（(][^（()）\n]{1,8}[）)])?\s*[:：】]\s*|[ \t　]+|名?叫)?"
)
# Header labels written with spaces inside (姓    名：, 联 系 人：) and a bed number (3床严国栋, 12床：沈大爷).
_SP = "[ \t　]"
_SPACED_RE = re.compile(
    rf"(?:姓{_SP}+名|联{_SP}*系{_SP}*人|家{_SP}+属|签{_SP}+[名字]){_SP}*[:：]{_SP}*|\d{{1,3}}\s*床\s*[:：]?\s*"
)
# Roles that open a turn of a written dialogue ("患者：头痛三天。医生：..."): after them comes speech.
_SPEAKERS = set(_words("患者 病人 医生 医师 护士 家属 患者家属 用户 患儿 家长 本人 患 医"))
_TITLE_AT = re.compile(trie_pattern(STAFF_TITLES + POLITE_TITLES))
_FUNCTION_SURNAMES = set("向和于时都来那全相应给连")  # function words before a title (向医生咨询, 和医生沟通)
_SIGN_RE = re.compile("签字|签名|代签|陪同|代诉")
_SEX_AGE_RE = re.compile(
    r"[\n。；;！!？?，,：:\s](?=[\u4e00-\u9fff]{2,4}[，,、 \t（(]*(?:[男女]性?[，,、 \t）)]|\d{1,3}岁))"
)
# A sentence that opens with a name and goes on with what a patient does (王小明今日复诊, 李华自诉头痛).
_OPENER = re.compile(r"[\n。！？!?；;][ \t　]*(?=[\u4e00-\u9fff]{3})")  # read on "\n" + text: a boundary consumed
_OPENER_NEXT = tuple(
    _words(
        "诉 自诉 主诉 因 今日 今天 昨日 昨天 今晨 近日 近来 反复 出现 来院 到院 入院 就诊 复诊 体检 服用 "
        "患有 既往 否认 今年 于 经 行 术后 目前 现 已 曾 突发 突然 无明显诱因 在家 在我院"
    )
)
# A greeting after a name (王小明您好, 李华，你好): the name it greets.
_GREETED = re.compile(r"[\n：:，,。！!？?\s](?=[\u4e00-\u9fff]{2,4}[，,]?\s*(?:您好|你好))")  # on "\n" + text
_GREETING_NEXT = re.compile(r"[，,]?\s*(?:您好|你好)")
_AFTER_DEPARTMENT = re.compile(r"(?<=[\u4e00-\u9fff]科)[ \t　]+(?=[\u4e00-\u9fff]{2,4}\s*(?:$|\n|\d))")
# What ends a header cell: a space (Chinese prose has none; detect_phi reads the ideographic one as a space), a
# bracket aside, the line's end.
_ALONE_NEXT = re.compile(r"[ \t　\n（(]|$")
_SEX_OR_AGE_NEXT = re.compile(r"[，,、 \t　（(]*(?:[男女]|\d{1,3}岁)")
_NUMERAL_UNIT = re.compile(r"[一二三四五六七八九十两零〇]+[时点分日号月年岁天周次个]")
_ASIDE = re.compile(r"(?:[（(][^（()）\n]{1,10}[）)])?")  # 黄振华（主治医师）、黄晓玲（护士长）: a role in brackets
# A role in brackets after a name (王芳（护士）, 单晓明（长子）): the name before it, with that role.
_ROLE_WORDS = [w for w in STAFF_TITLES + FAMILY if len(w) >= 2]
_BRACKET_ROLE = re.compile(
    r"[（(](?=[^（()）\n]{0,10}[）)])(?:患者)?(" + "|".join(_ROLE_WORDS) + r"|[父母子女夫妻兄弟姐妹孙](?=[）)]))"
)  # 吴某（弟）: one character of kinship alone in the brackets
# A name alone in brackets (吕老太太（吕某某）, 腰硬联合麻醉（滕某）), a nickname (小王你好), a name alone in the
# first cell of a line (黄某某\n日期：, 【患者信息】慕容某  女), the value of any label's cell (神经电生理：易某):
# jieba's tags decide.
_BRACKET_NAME = re.compile(r"[（(]([\u4e00-\u9fff]{2,4})[）)]")
_NICKNAME = re.compile(
    r"[小老](?=[\u4e00-\u9fff](?:[，,。！!？?、 　\n）)]|你|您|$|[去来说带请在是就也已刚会接开打给做看查]|联系|知道|"
    r"上周))"
)
_LINE_CELL = re.compile(r"[\n】][ \t]*([\u4e00-\u9fff]{2,4})(?=[ \t\n]|$)")  # read on "\n" + text
# A cell's value is found from its colon and its label read backwards (a scan for labels first is slower).
_CELL_VALUE = re.compile(r"[:：][ \t]*([\u4e00-\u9fff]{2,4})(?=[ \t\n（(]|$)")
_LABEL_BEFORE = re.compile(r"(?:^|(?<=[\n\t ]))[\u4e00-\u9fff]{1,8}$")
_SURNAME_SAYS = re.compile(r"(?:我|免贵|本人)姓(?=[\u4e00-\u9fff])")
_MOU_RE = re.compile("某某?(?![日天时年月些种处次位项个])")
_DISEASE_NEXT = set("病症炎癌瘤性-征综")  # after a disease named like a person (银屑病, 孔源性视网膜脱离): no name
_DOSE = re.compile(r"[ \t]*\d+(?:\.\d+)?[ \t]*(?:g|mg|ml|mL|克|片|粒|袋|支)")  # 炙甘草6g: a drug, whoever is named so
_NEVER_IN_NAMES = set("病症癌瘤疹痛")  # 石骨症: a name does not end in these
# Characters that end a name: function words and the usual first characters of what follows a name in a note.
_STOP = set(
    "于因在自诉主男女等的和与及为是已今昨前后称来去入出诊也均曾现再将被把对从向到经行年日岁之所以系无有不问说讲答想要需能会请让叫"
    "氏某应可便就都还又仍并了吗吧呢啊呀哦嘛"
)
_BOUNDARY = set("请由与和及经被给让跟找对把将、，,。；;：:（(）) 　\n\t/\"“”'")
_STRONG_END = set("，,。；;、：:（()）) 　\n\t/\"“”'！!？?")


def _name_char(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _STOP and ch not in NOT_IN_GIVEN_NAMES


def name_after(text: str, i: int, strict: bool = False, cell: bool = False, trusted: bool = False) -> int:
    """End of a Chinese name starting at `i` (surname + one or two given characters), or `i` if none starts there.

    `strict`: the name must stand alone, followed by punctuation, a space, the end, 男/女 or a title.
    `cell`: the value of a label's cell (主刀：连城　一助：...): strict, rare surnames count, and a name that is also
    a word (连城, 白雪) stands when the cell holds nothing else and the label is `trusted` to hold a name or jieba
    tags the word as a name.
    """
    strict = strict or cell
    s = surname_length(text, i, rare=cell)
    if not s or i + s >= len(text) or not _name_char(text[i + s]) or _TITLE_AT.match(text, i + s):
        return i  # 李医生 is a surname and a title: the title rule decides
    medical = opens_medical_word(text, i)
    if (medical and not (cell and trusted)) or _NUMERAL_UNIT.match(text, i + s):
        return i  # 唐氏, 高血压; 患者于十时 (a time, not 于 + a given name)
    one, two = i + s + 1, i + s + 2
    if two > len(text) or not _name_char(text[two - 1]) or any(text.startswith(w, one) for w in CLINICAL_WORDS):
        end = one
    elif (
        (two < len(text) and not _name_char(text[two]))  # 莫萍红于: a stop right after two given characters
        or any(text.startswith(w, two) for w in CLINICAL_WORDS)
        or (strict and (two == len(text) or text[two] in _STRONG_END))
    ):
        end = two
    else:
        cuts, pos = set(), i
        for token in segmenter().lcut(text[i : i + s + 6], HMM=True):
            pos += len(token)
            cuts.add(pos)
        if (two in cuts) != (one in cuts):
            end = two if two in cuts else one
        else:
            end = one if is_common_word(text[one : one + 2]) else two
    if (end < len(text) and text[end] in _DISEASE_NEXT | DRUG_CHARACTERS) or text[end - 1] in _NEVER_IN_NAMES:
        return i
    if (
        strict
        and end < len(text)
        and text[end] not in _STRONG_END
        and text[end] not in "男女"
        and not _TITLE_AT.match(text, end)
    ):
        return i
    # 患者高血压, 患者常规服药: a word, not a name (compound surnames such as 东方 are words too, and names)
    alone = strict and _ALONE_NEXT.match(text, end)  # 患者：甘宁   费别：a header cell holds a name, even a word
    if medical and (not alone or medical_word_from(text, i, end - i)):
        return i  # 姓名：巴特尔 is a name (巴特 only opens it); 患者：帕金森 is a disease
    if s == 1 and any(is_common_word(text[i:k]) for k in range(i + 2, end + 1)):
        common_surname = text[i] in SURNAMES  # 审核：通过 (通 a rare surname): a word
        if not alone or (cell and not (trusted and common_surname) and not tagged_as_name(text[i:end])):
            return i
    return end


def _listed_after(text: str, end: int, role: str) -> list[Span]:
    """Names listed after a found one (张三、李四、王五; 刘建/陈晨), each standing alone."""
    spans = []
    while (end := _ASIDE.match(text, end).end()) < len(text) and text[end] in "、/，,":
        nxt = name_after(text, end + 1, strict=True)
        if nxt == end + 1:
            break
        spans.append(Span("name", end + 1, nxt, text[end + 1 : nxt], role=role))
        end = nxt
    return spans


def _is_speech(text: str, start: int, end: int) -> bool:
    """After a speaker label, a frequent word (明白, 谢谢) or a function word (都好了) opens speech, not a name;
    a name in a header is followed by sex or age (患者：李娜，女, 30岁) and stays."""
    if _SEX_OR_AGE_NEXT.match(text, end) or (_ALONE_NEXT.match(text, end) and tagged_as_name(text[start:end])):
        return False  # 患者：李娜，女; 患者：白雪　右膝 (a cell jieba tags as a name)
    return text[start] in _FUNCTION_SURNAMES or segmenter().FREQ.get(text[start:end], 0) >= 200


@lru_cache(maxsize=4)
def role_matches(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """Every role label of `text` (one a starting position, the longest): (start, end after its separator, role,
    separator). layout.py reads the same list (a nickname after a role), so the text is scanned once."""
    found, pos = [], 0
    while m := _ROLE_RE.search(text, pos):
        found.append((m.start(), m.end(), m.group("role"), m.group(2) or ""))
        pos = m.start() + 1  # 其女儿方琳: 其女 fails, 女儿 finds
    return tuple(found)


def _label_names(text: str) -> list[Span]:
    spans = []
    pos = 0
    for start, after, role, sep in role_matches(text):
        if start < pos:
            continue  # inside a name found after the previous role
        line_start = start == 0 or text[start - 1] in "\n\t 　"
        if not sep and medical_word_across(text, start, after):
            continue
        if role in NEED_COLON and not sep:  # 本人吕桂芬，身份证号: a line that opens with the role, a name alone after
            opens_line = (start == 0 or text[start - 1] == "\n") and not opens_medical_word(text, start)
            end = name_after(text, after, strict=True) if opens_line else after
            if end > after and not is_common_word(text[after:end]):
                spans.append(Span("name", after, end, text[after:end], role=_HINT[role]))
            continue
        colon = any(c in sep for c in ":：】")
        strict = role in _SPEAKERS and line_start and bool(sep)  # 患者：王小明，男 but not 患者：头痛三天
        end = name_after(text, after, strict=strict, cell=colon, trusted=role not in NEED_COLON)
        if end > after and strict and _is_speech(text, after, end):
            end = after
        if end > after:
            spans.append(Span("name", after, end, text[after:end], role=_HINT[role]))
            pos = end
            spans += _listed_after(text, end, _HINT[role])
        elif colon:  # 执行护士：童 (a surname alone after a label, then the line ends)
            s = surname_length(text, after, rare=True)
            if s and (after + s == len(text) or text[after + s] in "\n\r \t　"):
                spans.append(Span("name", after, after + s, text[after : after + s], role=_HINT[role]))
    for m in _SPACED_RE.finditer(text):
        end = name_after(text, m.end())
        if end > m.end():
            spans.append(Span("name", m.end(), end, text[m.end() : end], role="patient"))
    return spans


def _surname_before(text: str, t: int, polite: bool) -> int:
    """Start of a bare surname ending at `t` (张 of 张医生), or -1."""
    for s in (2, 1):
        start = t - s
        after_label = start > 0 and text[start - 1] in ":：、 "  # 上级医生：应主任
        if start < 0 or surname_length(text, start, rare=start > 0 and text[start - 1] in ":：") != s:
            continue  # 主刀：萧主任 (a rare surname right after a label's colon)
        function_word = text[start] in _FUNCTION_SURNAMES and not polite and not after_label
        in_word = any(is_common_word(text[k:t]) for k in range(max(0, start - 2), start))
        if s == 1 and (function_word or in_word or medical_word_ending(text, t)):
            return -1  # 社区医生, 向医生咨询, 家族史医生, 华法林医生
        title = _TITLE_AT.match(text, t)
        if title and segmenter().FREQ.get(text[start : title.end()], 0) >= 50:  # any word, tagged nr too (师姐)
            return -1  # 班主任, 老先生
        return start
    return -1


def _name_before(text: str, t: int, shortest: int = 2) -> int:
    """Start of a full name (surname + given name, 2-4 characters) ending at `t`, preceded by a boundary, or -1."""
    for start in range(max(0, t - 4), t - shortest + 1):  # longest first
        before = text[start - 1] if start else " "
        at_boundary = before in _BOUNDARY or not "\u4e00" <= before <= "\u9fff" or before == "科"  # 内分泌科陈某医师
        after_word = start >= 2 and is_common_word(text[start - 2 : start])  # 立即通知周某医生 (not 调整应由医生)
        after_word = after_word and text[start] not in _FUNCTION_SURNAMES and not set(text[start:t]) & _BOUNDARY
        at_boundary = at_boundary or after_word
        s = surname_length(text, start)
        given = text[start + s : t]
        name_shaped = at_boundary and s and 0 < len(given) <= 2 and all(_name_char(c) for c in given)
        in_word = start and "\u4e00" <= before <= "\u9fff" and is_common_word(text[start - 1 : start + 1])  # 及时
        if name_shaped and not in_word and not is_common_word(text[start:t]) and not opens_medical_word(text, start):
            return start
    return -1


def _title_names(text: str) -> list[Span]:
    spans = []
    for m in _TITLE_AT.finditer(text):  # longest first: 张老先生 is 张 and 老先生, not 张老 and 先生
        t, title, title_end = m.start(), m.group(), m.end()
        hint = "staff" if title in STAFF_TITLES else "polite"
        start = _name_before(text, t)
        label = text[title_end : title_end + 1] in (":", "：")  # 宣教护士：冯护士 (a role label, unless jieba: a name)
        if label and start >= 0 and not tagged_as_name(text[start:t]):
            start = -1
        if start >= 0 and not text.startswith(_HINT_WORDS, start):  # 管床医生 is a role
            spans.append(Span("name", start, t, text[start:t], role=hint))
            continue
        start = _surname_before(text, t, polite=hint == "polite")
        if start >= 0:
            spans.append(Span("name", start, t, text[start:t], role=hint))
    return spans


def _context_names(text: str) -> list[Span]:
    spans, lined, sex_or_age = [], "\n" + text, "男" in text or "女" in text or "岁" in text  # scan gates
    for start in (m.end() - 1 for m in _SEX_AGE_RE.finditer(lined)) if sex_or_age else ():  # 刘洋，男，32岁
        end = name_after(text, start, strict=True)
        if end > start:
            spans.append(Span("name", start, end, text[start:end], role="patient"))
    for m in _OPENER.finditer(lined):  # 王小明今日复诊
        start = m.end() - 1
        if not surname_length(text, start):
            continue
        end = name_after(text, start)
        if end - start >= 2 and text.startswith(_OPENER_NEXT, end) and not is_common_word(text[start:end]):
            spans.append(Span("name", start, end, text[start:end], role="patient"))
    for start in (m.end() - 1 for m in _GREETED.finditer(lined)) if "你好" in text or "您好" in text else ():
        end = name_after(text, start)  # 王小明您好
        if end - start >= 2 and _GREETING_NEXT.match(text, end) and not is_common_word(text[start:end]):
            spans.append(Span("name", start, end, text[start:end], role="polite"))
    for m in _AFTER_DEPARTMENT.finditer(text) if "科" in text else ():  # 会诊意见：...。神经内科 阮文杰
        end = name_after(text, m.end(), strict=True)
        if end > m.end():
            spans.append(Span("name", m.end(), end, text[m.end() : end], role="staff"))
    for m in _SIGN_RE.finditer(text) if "签" in text or "陪同" in text or "代诉" in text else ():  # 刘刚签字
        start = _name_before(text, m.start())
        if start >= 0:
            spans.append(Span("name", start, m.start(), text[start : m.start()]))
    for m in _BRACKET_ROLE.finditer(text) if "（" in text or "(" in text else ():  # 王芳（护士）
        start = _name_before(text, m.start())
        if start >= 0:
            role = "staff" if m.group(1) in STAFF_TITLES else "family"
            spans.append(Span("name", start, m.start(), text[start : m.start()], role=role))
    for m in _SURNAME_SAYS.finditer(text) if "姓" in text else ():  # 我姓林，林晓
        s = surname_length(text, m.end())
        if s:
            spans.append(Span("name", m.end(), m.end() + s, text[m.end() : m.end() + s], role="polite"))
            nxt = m.end() + s + (text[m.end() + s : m.end() + s + 1] in ("，", ","))
            end = name_after(text, nxt, strict=True)
            if end > nxt and text[nxt : nxt + s] == text[m.end() : m.end() + s]:
                spans.append(Span("name", nxt, end, text[nxt:end], role="patient"))
    for m in _MOU_RE.finditer(text) if "某" in text else ():  # 张某某, 欧阳某
        for start in (m.start() - 2, m.start() - 1):
            if start >= 0 and surname_length(text, start) == m.start() - start:
                spans.append(Span("name", start, m.end(), text[start : m.end()]))
                break
    return spans


def _tagged_cell(value: str, staff_label: bool = False) -> bool:
    """Whether a cell's whole value is a name: surname first, no medical word, and tagged nr by jieba (or, after a
    staff label such as 灌注师：, no dictionary word)."""
    s = surname_length(value, 0, rare=True)
    if (
        not s
        or len(value) - s not in (1, 2)
        or not all(_name_char(c) for c in value[s:])  # the surname may be a function word (曾, 和), not the rest
        or opens_medical_word(value, 0)
    ):
        return False
    if _TITLE_AT.match(value, s):
        return False  # 冯护士: a surname and a title (the title rule masks the surname)
    return (staff_label and not is_common_word(value)) or tagged_as_name(value)


def _cell_names(text: str) -> list[Span]:
    spans = []
    for m in _BRACKET_NAME.finditer(text) if "（" in text or "(" in text else ():
        # after a titled surname (郭老师（郭文斌）) the full name takes the title's role; 旋切术（麦默通） is a thing
        if text[m.start() - 1 : m.start()] not in THING_BEFORE_BRACKET and _tagged_cell(m.group(1)):
            title = next((t for t in STAFF_TITLES + POLITE_TITLES if text.endswith(t, 0, m.start())), "")
            role = "staff" if title in STAFF_TITLES else "polite" if title else ""
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role=role))
    for m in _NICKNAME.finditer(text) if "小" in text or "老" in text else ():  # 小王你好: the surname is the name
        end = m.end() + surname_length(text, m.end())
        common = is_common_word(text[m.start() : end]) or is_common_word(text[m.start() - 1 : m.end()])  # 小米, 大小
        if end > m.end() and not common and not opens_medical_word(text, m.start()):
            spans.append(Span("name", m.end(), end, text[m.end() : end], role="polite"))
    for m in _LINE_CELL.finditer("\n" + text):
        if _tagged_cell(m.group(1)):
            spans.append(Span("name", m.start(1) - 1, m.end(1) - 1, m.group(1), role="patient"))
    for m in _CELL_VALUE.finditer(text) if ":" in text or "：" in text else ():
        label = _LABEL_BEFORE.search(text, max(0, m.start() - 9), m.start())
        if not label or (label.start() and text[label.start() - 1] not in "\n\t "):
            continue  # the window cut a longer label short
        staff = label.group()[-1] in "师士员者人长"  # 灌注师, 助产士, 协调员, 接生者, 见证人, 护士长
        if label.group() not in _HINT and not THING_LABEL.search(label.group()) and _tagged_cell(m.group(1), staff):
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="staff" if staff else ""))
    return spans


def is_surname_only(value: str) -> bool:
    """Whether a found name is a bare surname (张 of 张医生, 欧阳 of 欧阳女士): never searched for elsewhere."""
    return value in SURNAMES or value in COMPOUND_SURNAMES


def find_names(text: str, known: tuple[str, ...] = ()) -> list[Span]:
    """Person names in `text`, plus every occurrence of `known` names (found elsewhere in the same record)."""
    spans = english_names(text)
    if re.search("[\u4e00-\u9fff]", text):
        spans += _label_names(text) + _title_names(text) + _context_names(text) + _cell_names(text)
    values = {s.value for s in spans} | set(known)
    firsts = {v.split()[0] for v in values if v.isascii() and v.count(" ") == 1 and v[2:3].islower()} - values
    for value in values | firsts:
        if is_surname_only(value) or len(value) < 2:
            continue
        # a first name alone, not one opening another full name (Lin of Lin Guoqiang in Lin Yuefang: pinyin)
        tail = r"(?![ \t]+[A-Z][a-z])" if value in firsts else ""
        pattern = rf"\b{re.escape(value)}\b{tail}" if value.isascii() else re.escape(value)
        for m in re.finditer(pattern, text):
            medical = medical_word_from(text, m.start(), len(value) + 1) or _DOSE.match(text, m.end())  # 甘露醇
            if value.isascii() or not medical:
                spans.append(Span("name", m.start(), m.end(), value))
    return spans
