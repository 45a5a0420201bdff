"""Chinese names announced by a note's layout rather than by a word: table and form cells, chat speaker tags.

    layout_names("姓名|司马乐天|性别|男\n老王：结果出来了吗")   # 司马乐天 (3-7) and 王 (14-15)

- A label a name follows (姓名, 父亲, 检验者, 审核, 麻醉, ...), a separator (a pipe, a tab, a run of spaces or a
  colon) and a cell holding only a name: the name, and the names listed after it (麻醉 鄢、柳红). A dictionary word
  (向阳, 尚书) counts after a name label, after a staff label in a table, or when jieba calls it a noun; a word a
  form's cell holds (通过, 全麻, 满意) never does. A name after a row or bed number in a table (3 | 方圆 | ...).
- A speaker's tag opening a line of a chat: 老王：, 柏姐：, 郑医生：, 王：, 杜晓雯：, 萱萱爸爸：, 护士霍：,
  [护士小邱], a log line's user ([08:03:40] 周丽 执行医嘱), and Dr. 黄. A section label that opens a line the
  same way (查体：, 主诉：) is not a speaker.
"""

from __future__ import annotations

import re
from functools import lru_cache

from qilin.privacy.names import _FUNCTION_SURNAMES, _TITLE_AT, _name_before, role_matches
from qilin.privacy.roles import (
    DRUG_CHARACTERS,
    NEED_COLON,
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

# Names in the cells of a table or a form laid out with pipes, tabs or runs of spaces (姓名|司马乐天|性别,
# 检验者 向阳  审核 尚, 麻醉 鄢、柳红；器械 唐糖): a label a name follows, a separator, a cell holding only the name.
_HEADER_LABELS = words(
    "姓名 患者姓名 病人姓名 就诊人 受检者 先证者 户主 患儿 患者 病人 父亲 母亲 父 母 家长 监护人 签名 患者签名 "
    "签字 患方签字 患者签字 家属签字 联系人 配偶 丈夫 妻子 新生儿 婴儿 被保险人 参保人 申请人 报销人 委托人"
)
_STAFF_LABELS = words(
    " ".join(w for w in STAFF if len(w) >= 2),
    "医生 医师 护士 药师 检验 检验者 检验师 报告 报告者 分析 分析者 调剂 调配 复核 核对 发药 核对/发药 评估员 "
    "评估 经办 "
    "经办人 交接人 操作者 操作 申请医师 送检医师 转出医师 转入医师 术者 器械 巡回 洗手护士 器械护士 巡回护士 "
    "新生儿复苏 "
    "体外循环师 记录人 随访护士 值班医生 值班医师 主刀 助手 麻醉 一助 二助 审核 审核者 医师签名 责任护士 白班 "
    "小夜 大夜 "
    "夜班 夜班护士 白班护士 接诊 首诊 主管 评估护士 宣教护士 "
    # who triaged, signed, paid or examined: forms of every kind end with them (分诊：, 出纳：, 鉴定人：, 审签：)
    "分诊 分诊护士 交 接 出纳 审批 导管室 鉴定人 随访人 随访员 督导员 接种者 接种护士 研究护士 审签 复核者 承办人 "
    "经治医师 主诊医生 检查者 记录者 会诊医师 抢救人员 参加抢救人员",
)
# A cell's separator; the label before it is read backwards and looked up (faster than scanning for 200 labels).
# A run of characters after a cell boundary and before a separator: a label if it is one of the labels above (a
# set lookup: faster than a regular expression of 200 labels).
_CELL_LABELS = frozenset(_HEADER_LABELS + _STAFF_LABELS)
_SUFFIX_LABELS = frozenset(
    words("姓名 医生 医师 护士 护师 药师")
)  # 儿童姓名, 受试者姓名, 主管医生: their last word decides
# It opens with the separator's first character, so the regex engine skips ahead to those characters (a pattern
# that opens with a lookbehind is tried at every position); the label's last character is checked just after.
_LAST_CHARS = "".join(sorted({label[-1] for label in _CELL_LABELS}))
_AFTER_LABEL = re.compile(
    rf"[ \t　|｜:：](?<=[{_LAST_CHARS}].)(?:(?<=[ \t　])[ \t　]*(?:[|｜:：\t][ \t　]*)?|(?<=[|｜:：])[ \t　]*)"
    r"(?=[\u4e00-\u9fff])"
)
_CELL_BOUNDARY = set("\n\t|｜；;，,、 　")
_LIST_NEXT = re.compile(r"[ \t　]*[、/][ \t　]*")
# A cell ends at a separator, a run of spaces, or one space before the next label (复核：仇 报告日期：).
_CELL = re.compile(
    r"([\u4e00-\u9fff]{1,4}(?:·[\u4e00-\u9fff]{2,8})?)"
    r"(?=[ \t　]*(?:[|｜\t\n、；;，,（(/]|$)|[ 　]{2}|[ 　][\u4e00-\u9fff]{1,6}[:：])"
)
# What a staff or header cell holds when it holds no name.
CELL_WORDS = set(
    words(
        "通过 正常 同意 拒绝 不同意 无 不详 未见 阴性 阳性 合格 完成 良好 已签 本人 家属 全麻 局麻 腰麻 "
        "全身麻醉 局部麻醉 "
        "神经阻滞 静脉麻醉 镇静 男 女 未婚 已婚 汉族 汉 主任 医生 医师 护士 见下 如下 同上 待定 待查 签字 "
        "签名 盖章 手印 急诊 门诊 平稳 稳定 好转 已签字 已告知 正常范围 "
        "确认 已阅 知情 代签 电话 日期 时间 性别 年龄 科室 床号 诊断 住址 职业 民族 其他 暂无 不适用 自费 "
        "医保 公费 在职 退休 "
        "值班 白班 夜班 交班 接班 主刀 助手 器械 巡回 麻醉 审核 复核 报告 检验 记录 核对 患者 病人 患儿 "
        # the section labels of a note, which open a line the way a speaker's tag does (jieba tags some as names)
        "查体 体检 续方 方药 处方 医嘱 处置 辅检 辅查 复查 随访 转归 结论 印象 建议 备注 费别 主诉 现病史 "
        "既往史 个人史 "
        "家族史 婚育史 月经史 过敏史 专科 体征 病史 治疗 计划 评估 诊疗 用法 剂量 疗程 症状 舌脉 舌象 脉象 证型 治法"
    )
)


def _word_tag(word: str) -> str:
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab.get(word, "")


def _cell_is_name(value: str, staff: bool, name_label: bool = False, table: bool = False, person: bool = False) -> bool:
    """Whether a cell's value is a name: name-shaped, no medical word, no word a form's cell holds (通过, 全麻); a
    dictionary word (向阳, 满意) only after a name label, or after a staff label in a table (pipes, tabs, spaces)."""
    if value in CELL_WORDS or value in medical_words():
        return False
    if "·" in value or (name_label and len(value) >= 2):  # 阿依古丽·买买提; 姓名：达瓦卓玛 (a name without a surname)
        return True
    s = surname_length(value, 0, rare=True)
    given = value[s:]
    if not s or len(given) > 2 or any(c in NOT_IN_GIVEN_NAMES or c in DRUG_CHARACTERS for c in given):
        if len(value) not in (2, 3) or s or set(value) & NOT_IN_GIVEN_NAMES:
            return False  # a person's label (医师：, 鉴定人：, 交班：) before a noun: a name without a surname (晴雯)
        return tagged_as_name(value) or (staff and person and _word_tag(value)[:1] == "n")
    if not given:
        return staff  # 审核：尚, 医生 吉: a bare surname signs a staff cell
    if medical_word_from(value, 0, len(value)) or _TITLE_AT.match(value, s):
        return False
    if is_common_word(value) or given[-1] in "了的吗呢吧啊":  # 麻醉：满意, 患者：都好了 (审核：尚书 is a name)
        noun = staff and _word_tag(value)[:1] == "n"
        return name_label or (table and staff) or noun or tagged_as_name(value)
    return True


def table_names(text: str) -> list[Span]:
    """Names as the values of label cells in tables and forms, and the names listed after them (鄢、柳红)."""
    spans = []
    for m in _AFTER_LABEL.finditer(text):  # a separator after a label's last character; the label read backwards
        start = m.start()
        while start > m.start() - 8 and start and ("\u4e00" <= text[start - 1] <= "\u9fff" or text[start - 1] == "/"):
            start -= 1
        label = text[start : m.start()]
        label = (
            label[-2:] if label not in _CELL_LABELS and label[-2:] in _SUFFIX_LABELS else label
        )  # 儿童姓名, 主管医生
        if label not in _CELL_LABELS or (start and text[start - 1] not in _CELL_BOUNDARY):
            continue
        if start and text[start - 1] in " 　" and (start < 2 or text[start - 2] not in " 　\t\n|｜"):
            continue  # a label after one space is prose; a cell starts after a run of spaces
        staff = label in _STAFF_SET
        pos, table = m.end(), ":" not in m.group() and "：" not in m.group()
        while cell := _CELL.match(text, pos):
            person = label[-1] in "师士员者人生长" or label in _PERSON_ACTS  # 医师, 鉴定人, 交班: a person signs
            if not _cell_is_name(cell.group(1), staff, name_label=label.endswith("姓名"), table=table, person=person):
                break
            spans.append(Span("name", cell.start(1), cell.end(1), cell.group(1), role="staff" if staff else "patient"))
            nxt = _LIST_NEXT.match(text, cell.end())
            if not nxt:
                break
            pos = nxt.end()
    for m in _ROW_NAME.finditer(text) if "|" in text or "\t" in text or "｜" in text else ():
        if _cell_is_name(m.group(1), staff=False, name_label=True):  # 3 | 方圆 | 阑尾炎术后: the name column
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    return spans


_STAFF_SET = set(_STAFF_LABELS) - set(_HEADER_LABELS)
_PERSON_ACTS = set(words("交班 接班 交 接 分诊 审核 复核 发药 调配 核对 巡回 核对/发药 审签 审批 出纳"))
_ROW_NAME = re.compile(r"(?:^|\n)[ \t|｜]*[+＋]?\d{1,3}(?:床)?[ \t]*[|｜\t][ \t]*([\u4e00-\u9fff]{2,4})[ \t]*[|｜\t]")
# A speaker's tag opening a line of a chat (老王：, 小李:, 柏姐：, 王：, 晓雯：, 护士霍：, [护士小邱], 萱萱爸爸：).
_TAG_LINE = r"(?m:^)[ \t]*(?:\[[^\]\n]{0,24}\][ \t]*|\d{1,2}:\d{2}(?::\d{2})?[ \t]+)?"
# The labels of a question-and-answer text open its lines the same way (问：, 答案：): ruled out before any lookup.
_TAG_LINE += r"(?!(?:问|答|答案|问题|回答|解答|解析|提问|追问|题目|选项|分析|病例|摘要|关键词)[ \t]*[:：])"
_SPEAKER_TAG = re.compile(
    _TAG_LINE + r"(?:(?P<role>护士|医生|医师|大夫|药师|护士长|心内|心外|消化|急诊)?(?P<pre>[小老阿])?"
    r"(?P<tag>[\u4e00-\u9fff]{1,3}?)"
    r"(?P<kin>姐|哥|叔|姨|嫂|伯|婶|爸爸|妈妈|奶奶|爷爷|外婆|姥姥|医生|大夫|护士长|护士|老师|主任|警官|"
    r"师傅)?)[ \t]*[:：]"
)
_BRACKET_TAG = re.compile(r"\[(?:护士|医生|医师|大夫|药师|护士长)(?P<pre>[小老])?(?P<tag>[\u4e00-\u9fff]{1,2})\]")
_NOT_SPEAKERS = set("注附时左右男女答问医患护父母妻夫子甲乙丙丁和于向我你他她您")

_CJK = re.compile("[\u4e00-\u9fff]")
_STAFF_KIN = {"医生", "大夫", "护士长", "护士", "老师", "主任"}
# A log line: a time in brackets, then who did it (a name alone, then a space: [2024-05-01 08:03] 周某 执行医嘱).
_LOG_USER = re.compile(r"(?m:^)[ \t]*\[[^\]\n]{4,24}\][ \t]*([\u4e00-\u9fff]{2,3})(?=[ \t（(])")
# A title in English before a Chinese surname (Dr. 黄, Dr 林).
_EN_TITLE_SURNAME = re.compile(r"(?<![A-Za-z])(?:Dr|Prof|Mr|Mrs|Ms)\.?[ \t]*([\u4e00-\u9fff])(?![\u4e00-\u9fff]{2})")
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
    if _TITLE_AT.search(tag) or tag in medical_words() or is_common_word(tag) or tag in CELL_WORDS:
        return False  # 蓝主任： (the title rule), 查体：, 诊断：
    # a field label opens a line the same way (查体：, 门诊号：, 申请人：): only jieba's name tag tells them apart
    return not opens_medical_word(tag, 0) and tagged_as_name(tag)  # 杜晓雯：, 晓雯：


def _nickname_tag(pre: str, tag: str) -> bool:
    """A nickname as a speaker's tag: a doubled character (萌萌, 琼琼) or 阿/小 before a given name (阿杰, 小满; 小王 is
    the surname rule's, 阿姨 and 小结 are words)."""
    if not pre:
        return len(tag) == 2 and tag[0] == tag[1] and tag[0] not in "哈嗯呵嘿啊哦嗯呜"
    if pre not in "阿小" or surname_length(tag, 0) == len(tag) or is_common_word(pre + tag):
        return False
    if pre == "小" and (len(tag) > 2 or is_common_word(pre + tag[0])):
        return False  # 小儿推拿：, 小便：
    return not set(tag) & NOT_IN_GIVEN_NAMES and not opens_medical_word(pre + tag, 0)


def speaker_names(text: str) -> list[Span]:
    """Names in the speaker tags that open the lines of a chat or a group log."""
    spans = []
    for m in _SPEAKER_TAG.finditer(text) if ":" in text or "：" in text else ():
        kin = m.group("kin") or ""
        if not kin and not m.group("role") and _nickname_tag(m.group("pre") or "", m.group("tag")):
            start = m.start("pre") if m.group("pre") else m.start("tag")  # 阿杰：, 小满：, 萌萌：
            spans.append(Span("name", start, m.end("tag"), text[start : m.end("tag")], role="polite"))
            continue
        if _tag_is_name(m.group("tag"), kin, bool(m.group("pre") or m.group("role"))):
            role = "staff" if m.group("role") or kin in _STAFF_KIN else "polite"  # 郑医生： is the staff 郑某
            start = m.start("pre") if kin in _CHILD_OF and m.group("pre") else m.start("tag")  # 小胖妈妈：
            spans.append(Span("name", start, m.end("tag"), text[start : m.end("tag")], role=role))
    for m in _LOG_USER.finditer(text) if "[" in text else ():
        if _tag_is_name(m.group(1), "", False):
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="staff"))
    for m in _EN_TITLE_SURNAME.finditer(text) if "Dr" in text or "M" in text or "Prof" in text else ():
        if m.group(1) in SURNAMES:
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="staff"))
    for m in _BRACKET_TAG.finditer(text) if "[" in text else ():
        if surname_length(m.group("tag"), 0, rare=True) == len(m.group("tag")):
            spans.append(Span("name", m.start("tag"), m.end("tag"), m.group("tag"), role="staff"))
    return spans


def layout_names(text: str) -> list[Span]:
    """Chinese names found by layout: table and form cells, chat speaker tags."""
    if not _CJK.search(text):
        return []
    return table_names(text) + speaker_names(text) + unsurnamed_names(text) + prose_names(text)


# Names with no Han surname: Tibetan, Mongolian and Uyghur names are built from a small stock of syllables (扎西卓玛,
# 乌兰图雅, 阿依古丽·买买提); a run made only of them, after a label or a role, at a line's start or before a bracket,
# is a name.
_SYLLABLES = frozenset(
    words(
        "扎西 卓玛 次仁 多吉 泽仁 拉姆 德吉 央金 格桑 尼玛 达瓦 旺堆 平措 罗布 边巴 普布 索朗 顿珠 强巴 洛桑 丹增 曲珍 "
        "益西 白玛 桑珠 仁增 巴桑 拉巴 旺姆 措姆 央宗 卓嘎 达娃 次旺 其美 群培 贡布 嘎玛 扎巴 多杰 才让 卓玛央金 "
        "巴特尔 其其格 乌兰 图雅 苏和 那日苏 哈斯 孟和 额尔敦 宝音 朝鲁 敖登 格日勒 阿拉坦 斯琴 萨仁 乌云 塔娜 娜仁 "
        "托娅 巴雅尔 特木尔 布和 毕力格 吉日嘎拉 呼和 高娃 图门 满都拉 "
        "阿依 古丽 买买提 艾力 吐尔逊 热依拉 阿不都 阿布都 艾尔肯 努尔 帕提 米热 迪丽 热巴 依明 玉素甫 阿迪力 麦麦提 "
        "吾买尔 肉孜 哈力克 娜尔 阿米娜 帕丽达 祖丽 胡玛尔 阿依努尔 木拉提 吐逊 热合曼 艾合买提"
    )
)
_SYLLABLE = "(?:" + "|".join(sorted(_SYLLABLES, key=len, reverse=True)) + ")"
# A run made only of syllables, standing alone (乌兰察布 is a place: 察布 is none) after a colon, a space, a bracket or
# a line's start; the scan skips ahead to those characters, and tries the syllables only before a first character of
# one (a scan from every position costs a corpus more).
_FIRST = "".join(sorted({w[0] for w in _SYLLABLES}))
_SYLLABLE_RUN = re.compile(rf"[\n:：\t 　（(](?=[{_FIRST}])({_SYLLABLE}+(?:·{_SYLLABLE}+)?)(?![\u4e00-\u9fff])")


def _syllable_name(value: str) -> bool:
    """Whether `value` is made of name syllables only (扎西卓玛; 阿依古丽·买买提)."""
    return _SYLLABLE_WHOLE.fullmatch(value) is not None


_SYLLABLE_WHOLE = re.compile(rf"{_SYLLABLE}+(?:·{_SYLLABLE}+)?")


# A name after a role or a label and before sex, age or a people (患者乌兰图雅，女，54岁; 兹有患者孟和巴特尔（蒙古族）;
# 患者：岩温（傣族）): the run is a name with or without a surname.
_BEFORE_SEX = re.compile(
    r"(?P<role>患者|病人|患儿|产妇|孕妇|姓名|被鉴定人|受试者|来访者|监护人|死者|伤者|兹有)(?:[ \t　]*[:：])?[ \t　]*"
    r"([\u4e00-\u9fff]{2,6}(?:·[\u4e00-\u9fff]{2,8})?)"
    r"(?=[ \t　]*[，,（(][ \t　]*(?:[男女]性?[，,、 \t　）)]|\d{1,3}岁|[\u4e00-\u9fff]{1,4}族[）)，,]))"
)
_SEX_NEXT = re.compile(r"[，,][ \t]*[男女]性?[，,、 \t]")
_NOT_PERSON = set("的了是在有和与及因于无不病症痛炎我你他她叫说")


def unsurnamed_names(text: str) -> list[Span]:
    """Names without a Han surname: by their syllables, or where sex, age or a people follows a role or label."""
    spans = []
    for m in _SYLLABLE_RUN.finditer("\n" + text):  # the line's start as a boundary, without ^ (a slower scan)
        spans.append(Span("name", m.start(1) - 1, m.end(1) - 1, m.group(1), role="patient"))
    for m in _BEFORE_SEX.finditer(text) if "男" in text or "女" in text or "岁" in text or "族" in text else ():
        value = m.group(2)
        plain = not set(value) & (_NOT_PERSON | NOT_IN_GIVEN_NAMES) and value not in CELL_WORDS
        if _TITLE_AT.search(value):
            continue  # 患者：雷先生，61岁: the title rule's
        # a dictionary word too right after 患者 and before the sex (患者解放，男，62岁): no complaint reads so
        word_ok = not is_common_word(value) or (
            m.group("role") in ("患者", "病人", "患儿") and _SEX_NEXT.match(text, m.end(2))
        )
        if (_syllable_name(value) or plain) and word_ok and not opens_medical_word(value, 0):
            spans.append(Span("name", m.start(2), m.end(2), value, role="patient"))
    return spans


# After a role found by names.role_matches (one scan of the text for both): a full name before 患者/病人
# (全某某患者，您的报告...; 十六床冷某病人), a nickname after a role or a relation (护士小雨, 保姆小芳, 室友佳佳: 小/阿
# before a given character, or a doubled one; 小王 is the surname rule's, 宝宝 and 小时 are words), a bare surname
# after a staff role that ends its phrase (值班医生聂, 麻醉师岑 器械护士...).
_NICK_SHAPE = re.compile(r"(?:[小阿][\u4e00-\u9fff]|([\u4e00-\u9fff])\1)(?![:：]|医生|护士)")
_NOT_NICK = set("心时儿组结于量叶型号块片部分便腿肠时候姨婆伯叔公哥姐妹弟朋友宝贝孩")
_NOT_BEFORE_PATIENT = set("该的例名位此其本这那各些者年性期型组类数多少及和与或等为是在对给让请嘱")  # 该患者, 老年患者
_STAFF_ROLES = frozenset(w for w in STAFF if len(w) >= 2 and w not in NEED_COLON)
_PHRASE_END = re.compile(r"[ \t　\n，,。；;）)]|$")


def prose_names(text: str) -> list[Span]:
    """Names in running text around a role word: before 患者/病人, a nickname or a bare surname after a role."""
    spans = []
    for start, after, role, sep in role_matches(text) if _CJK.search(text) else ():
        before = text[start - 1] if start else ""
        # 全某某患者，您的; 某某病人 明早 (not 某某热患者常出现, a disease; not 患者：, a label)
        alone = (sep.isspace() if sep else not _CJK.match(text, after)) if after < len(text) else True
        if role in ("患者", "病人") and alone and before and before not in _NOT_BEFORE_PATIENT and _CJK.match(before):
            first = _name_before(text, start, shortest=3)
            if first >= 0 and not _TITLE_AT.search(text, first, start):
                spans.append(Span("name", first, start, text[first:start], role="patient"))
        if sep:
            continue  # 患者：, 护士 王: the label rules read what follows a separator
        nick = _NICK_SHAPE.match(text, after)
        if nick and _nickname_after_role(text, after, nick):
            spans.append(Span("name", after, nick.end(), nick.group(), role="family"))
        s = surname_length(text, after) if role in _STAFF_ROLES else 0
        if s and _PHRASE_END.match(text, after + s) and text[after : after + s] not in _FUNCTION_SURNAMES:
            spans.append(Span("name", after, after + s, text[after : after + s], role="staff"))
    return spans


def _nickname_after_role(text: str, i: int, nick: re.Match) -> bool:
    value = nick.group()
    if value[1] in _NOT_NICK or set(value) & NOT_IN_GIVEN_NAMES or opens_medical_word(text, i):
        return False  # 家属阿奇霉素: a drug
    if value[0] in "小阿" and surname_length(value, 1):
        return False  # 护士小王: the surname rule's
    return not (nick.group(1) and (is_common_word(value) or value[0] in "哈嗯呵嘿啊哦"))  # 宝宝, 哈哈
