"""Person names: Chinese names where a clinical context announces them, English names after a title.

    find_names("患者王小明因发热入院，家属李华陪同")   # [Span("name", 2, 5, "王小明"), Span("name", 13, 15, "李华")]

A Chinese name has no capital letters or spaces to find it by, so a rule needs a context: a role before it
(患者, 家属, 医生, 联系人, 姓名：...), a title after it (主任, 医师, 女士, 先生) or the 某/某某 form. Where the
given name ends (one character or two) is decided by jieba's segmentation of the few characters after the surname, with
clinical verbs (代诉, 陪同, 开具, ...) added to a private jieba dictionary so that "孔东欣代诉" splits after 欣.
A name written without any such context ("王小明今天来了") is not found: a rule-based detector cannot tell it from
ordinary words, so the README asks users to read a sample by hand.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from qilin.privacy.spans import Span

CJK = "\u4e00-\u9fff"
# Common single-character surnames (the ~300 most frequent cover > 95% of people) and compound ones.
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍"
    "庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华"
    "喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和"
    "仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉"
    "伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘"
    "亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵩帖蔚衣"
)
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "令狐",
    "慕容",
    "尉迟",
    "公孙",
    "长孙",
    "宇文",
    "夏侯",
)

# Words that announce a person; longest first so 患者家属 wins over 患者.
_ROLES = sorted(
    [
        "患者",
        "病人",
        "患儿",
        "病患",
        "患者家属",
        "家属",
        "其父",
        "其母",
        "其子",
        "其女",
        "其夫",
        "其妻",
        "丈夫",
        "妻子",
        "儿子",
        "女儿",
        "母亲",
        "父亲",
        "医生",
        "医师",
        "主治医师",
        "主治医生",
        "主任医师",
        "副主任医师",
        "住院医师",
        "主管医师",
        "管床医生",
        "值班医生",
        "经治医生",
        "报告医生",
        "申请医生",
        "审核医生",
        "接诊医生",
        "护士",
        "责任护士",
        "护师",
        "联系人",
        "紧急联系人",
        "监护人",
        "陪护",
        "陪护人",
        "陪同人",
        "姓名",
        "户名",
        "签名",
        "医师签名",
        "患者签名",
        "记录人",
        "记录者",
        "审核",
        "审核人",
        "用户",
        "委托人",
        "代理人",
        "我叫",
        "我是",
        "本人",
    ],
    key=len,
    reverse=True,
)
_ROLE_RE = re.compile(r"(?:" + "|".join(_ROLES) + r")\s*[:：]?\s*")
_TITLES = "主任|医师|医生|护士|护师|教授|女士|先生|小姐|太太|老师|同志"
_POLITE = ("女士", "先生", "小姐", "太太")  # these also follow a bare surname: 王女士
_TITLE_RE = re.compile(rf"(?={_TITLES})")
_TITLE_AT = re.compile(_TITLES)
# Roles that open a turn of a written dialogue ("患者：头痛三天。医生：..."): after them comes speech, not a name.
_SPEAKERS = {"患者", "病人", "医生", "医师", "护士", "家属", "患者家属", "用户"}
# What follows a disease named like a person (银屑病, 孔源性视网膜脱离, 吉兰-巴雷综合征): not a name.
_DISEASE_NEXT = set("病症炎癌瘤性-")
_MOU_RE = re.compile(r"某某?(?![日天时年月些种处次位项个])")
# Characters that end a name: function words and the usual first characters of what follows a name in a note.
_STOP = set(
    "于因在自诉主男女等的和与及为是已今昨前后称来去入出诊也均曾现再将被把对从向到经行年月日岁之所以系无有不问说讲答想要需能会请让叫"
)
# Clinical verbs jieba does not know; added to a private dictionary so a name before them ends in the right place.
_CLINICAL_WORDS = [
    "代诉",
    "主诉",
    "自诉",
    "陪同",
    "陪护",
    "签字",
    "开具",
    "来电",
    "查房",
    "记录",
    "审核",
    "就诊",
    "复诊",
    "到院",
    "入院",
    "出院",
    "参加",
    "诉",
    "述",
]
_BOUNDARY = set("请由与和及、，,。；;：:（(）) 　\n\t/\"“”'")
_EN_TRIGGER = re.compile(
    r"\b(?:(?i:patient(?:'s)?(?:\s+name)?|pt\.?|doctor|nurse|name|contact|signed(?:\s+by)?|electronically signed by|"
    r"attending|physician|seen by|referred by|provider)\s*:?\s*(?:Dr\.?\s*)?|(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof)\.?\s+)"
)
_EN_WORD = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_EN_NAME = re.compile(rf"{_EN_WORD}(?:\s+[A-Z]\.)?(?:\s+{_EN_WORD}){{0,2}}")
_EN_SUFFIX = re.compile(rf"\b({_EN_WORD}(?:\s+[A-Z]\.)?\s+{_EN_WORD}),\s*(?:MD|M\.D\.|RN|DO|NP|PA-C|PhD|MBBS)\b")
# Capitalised words that follow "Patient"/"Name" but are not names.
_EN_NOT_NAMES = set(
    [
        "The",
        "A",
        "An",
        "He",
        "She",
        "They",
        "This",
        "That",
        "Is",
        "Was",
        "Has",
        "Had",
        "Who",
        "With",
        "Without",
        "Education",
        "Information",
        "Reports",
        "Denies",
        "Presented",
        "States",
        "Name",
        "Age",
        "Sex",
        "Male",
        "Female",
        "Unknown",
        "History",
        "Admitted",
        "Discharged",
        "Was",
        "Will",
        "Date",
        "ID",
    ]
)


@lru_cache(maxsize=1)
def _segmenter():
    """A private jieba tokenizer (its own dictionary, so Qilin's other jieba users are untouched)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in _CLINICAL_WORDS:
        tokenizer.add_word(word, freq=100000)
    return tokenizer


def _is_common_word(word: str) -> bool:
    """A frequent dictionary word that is not a person's name (高血压, 常规): not a name after 患者."""
    import jieba.posseg

    return _segmenter().FREQ.get(word, 0) >= 50 and jieba.posseg.dt.word_tag_tab.get(word, "nr")[:2] != "nr"


def _surname_length(text: str, i: int) -> int:
    if text[i : i + 2] in COMPOUND_SURNAMES:
        return 2
    return 1 if i < len(text) and text[i] in SURNAMES else 0


def _name_char(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _STOP


def name_after(text: str, i: int) -> int:
    """End of a Chinese name starting at `i` (surname + one or two given characters), or `i` if none starts there."""
    s = _surname_length(text, i)
    if not s or i + s >= len(text) or not _name_char(text[i + s]) or _TITLE_AT.match(text, i + s):
        return i  # 李医生 is a surname and a title: the title rule decides
    one, two = i + s + 1, i + s + 2
    if two > len(text) or not _name_char(text[two - 1]):
        end = one
    elif two < len(text) and not _name_char(text[two]):  # 莫萍红于: a stop right after two given characters
        end = two
    elif any(text.startswith(w, one) for w in _CLINICAL_WORDS):
        end = one
    elif any(text.startswith(w, two) for w in _CLINICAL_WORDS):
        end = two
    else:
        cuts, pos = set(), i
        for token in _segmenter().lcut(text[i : i + s + 6], HMM=True):
            pos += len(token)
            cuts.add(pos)
        if (two in cuts) != (one in cuts):
            end = two if two in cuts else one
        else:
            end = one if _is_common_word(text[one : one + 2]) else two
    if end < len(text) and text[end] in _DISEASE_NEXT:
        return i
    # 患者高血压, 患者常规服药: a word, not a name (compound surnames such as 东方 are words too, and names)
    if s == 1 and any(_is_common_word(text[i:k]) for k in range(i + 2, end + 1)):
        return i
    return end


def _is_speaker_label(text: str, m: re.Match) -> bool:
    at_line_start = m.start() == 0 or text[m.start() - 1] == "\n"
    return at_line_start and m.group().rstrip().endswith((":", "：")) and m.group().rstrip(" :：") in _SPEAKERS


def _chinese_names(text: str) -> list[Span]:
    spans = []
    for m in _ROLE_RE.finditer(text):
        if _is_speaker_label(text, m):  # "医生：银屑病的一线治疗...": a dialogue turn, not a name
            continue
        end = name_after(text, m.end())
        if end > m.end():
            spans.append(Span("name", m.end(), end, text[m.end() : end]))
    for m in _TITLE_RE.finditer(text):
        t = m.start()
        shortest = t - 1 if text.startswith(_POLITE, t) else t - 2
        for start in range(max(0, t - 4), shortest + 1):  # longest first
            if any(text.startswith(role, start) for role in _ROLES):  # 管床医生 is a role, not 管床 + 医生
                break
            before = text[start - 1] if start else " "
            at_boundary = before in _BOUNDARY or not "\u4e00" <= before <= "\u9fff"
            s = _surname_length(text, start)
            if at_boundary and s and all(_name_char(c) for c in text[start + s : t]):
                spans.append(Span("name", start, t, text[start:t]))
                break
    for m in _MOU_RE.finditer(text):  # 张某某, 欧阳某
        for start in (m.start() - 2, m.start() - 1):
            if start >= 0 and _surname_length(text, start) == m.start() - start:
                spans.append(Span("name", start, m.end(), text[start : m.end()]))
                break
    return spans


def _english_names(text: str) -> list[Span]:
    spans = []
    for m in _EN_TRIGGER.finditer(text):
        name = _EN_NAME.match(text, m.end())
        if name and name.group().split()[0] not in _EN_NOT_NAMES:
            spans.append(Span("name", name.start(), name.end(), name.group()))
    for m in _EN_SUFFIX.finditer(text):
        spans.append(Span("name", m.start(1), m.end(1), m.group(1)))
    return spans


def find_names(text: str, known: tuple[str, ...] = ()) -> list[Span]:
    """Person names in `text`, plus every occurrence of `known` names (found elsewhere in the same record)."""
    spans = _chinese_names(text) + _english_names(text)
    for value in {s.value for s in spans} | set(known):
        spans += [Span("name", m.start(), m.end(), value) for m in re.finditer(re.escape(value), text)]
    return spans
