"""The words Chinese name rules read: surnames, and the role labels and titles that announce a name.

SURNAMES, COMPOUND_SURNAMES      # 王, 欧阳
PATIENT, FAMILY, STAFF           # 患者：, 之子, 主刀：  (each name after one gets that role hint)
STAFF_TITLES, POLITE_TITLES      # 张主任, 王女士
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

_RESOURCES = Path(__file__).resolve().parents[1] / "resources"

# Common single-character surnames (the ~300 most frequent cover > 95% of people) and compound ones.
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍"
    "庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华"
    "喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和"
    "仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉"
    "伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘"
    "亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵩帖蔚衣贝"
)
# The rest of the Hundred Family Surnames (百家姓) and a few modern variants: real surnames, but also frequent
# characters (水, 山, 公, 红), so they count only where a label or a title already announces a name (巡回护士：竺).
RARE_SURNAMES = set(
    "水昌凤酆元萧湛茅昝经干贲洪钮嵇滑荀於家羿汲邴糜松富弓牧隗山宓蓬郗仰秋暴钭戎束幸韶蓟怀从鄂咸籍赖阴能苍双莘贡逄"
    "扶堵宰郦卻璩濮寿通郏别充习宦鱼慎庾终暨居衡步弘广禄东殳沃利越夔厍勾融訾空毋乜养须巢蒯后红竺益桓公肖付闫揭"
    "綦苻庹喇卯刀貂"  # rarer still, met in notes (綦副主任, 刀医生)
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
COMPOUND_SURNAMES += ("司徒", "司空", "西门", "南宫", "独孤", "端木", "澹台", "呼延", "轩辕", "百里", "钟离", "申屠")
COMPOUND_SURNAMES += ("拓跋", "公冶", "乐正", "单于", "闻人", "赫连", "太史", "濮阳", "淳于", "宗政", "左丘", "万俟")


def trie_pattern(literals: list[str] | set[str]) -> str:
    """A regular expression matching any of `literals`, longest first, as a trie (患者(?:家属|姓名)?|...): Python's
    engine tries the branches of a flat alternation one by one at every candidate position, a trie only one path."""
    trie: dict = {}
    for literal in literals:
        node = trie
        for ch in literal:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


def words(*names: str) -> list[str]:
    """The words of space-separated lists, each once, longest first."""
    return sorted({w for n in names for w in n.split()}, key=len, reverse=True)


# Header labels that are also words before a disease (新生儿高胆红素血症): a name follows them after a colon only.
HEADER_ONLY = "新生儿 婴儿 儿童 幼儿 居民 被保险人 投保人 参保人 受益人 被监护人 "
# Roles that announce a name, by the role hint their names get; a colon may follow (姓名：王小明).
PATIENT = words(
    "产妇 孕妇 伤者 死者 咨询人 求诊者 来访者 病员 体检者 受检人 患 他叫 她叫 孩子叫 代诉人 陈述者 "
    "就诊人 患者名 病人名 受托人 申请人 签署人 陪诊人 兹证明 兹有 尊敬的 亲爱的 大名 小名 乳名 原名 曾用名 请问是 "
    "患者 病人 患儿 病患 姓名 患者姓名 病人姓名 受检者 就诊者 户名 用户 本人 我叫 我是 委托人 名字叫 名叫",
    HEADER_ONLY,
)
FAMILY = words(
    "家属 患者家属 家属姓名 其父 其母 其子 其女 其夫 其妻 之子 之女 之妻 之夫 之父 之母 之孙 之兄 之弟 "
    "之姐 之妹 丈夫 妻子 爱人 老伴 儿子 女儿 儿媳 女婿 母亲 父亲 哥哥 姐姐 弟弟 妹妹 孙子 孙女 外孙 侄子 "
    "联系人 紧急联系人 监护人 陪护 陪护人 陪同人 代理人 授权委托人 见证人 家长 我爸 我妈 我爸爸 我妈妈 "
    "我老公 我老婆 爸爸 妈妈 父 母 夫 妻 子 女 长子 长女 次子 次女 陪诊 甲方 乙方 "
    # partners, friends and the rest of the family (其男友邓某, 我爷爷叫唐某, 你们的孩子某某)
    "男友 女友 男朋友 女朋友 未婚夫 未婚妻 前夫 前妻 朋友 同事 室友 邻居 同学 爷爷 奶奶 外公 外婆 姥姥 姥爷 孙子 "
    "孙女 宝宝 孩子 儿媳妇 父母 联系 证明人 担保人 翻译 口译员 太太 "
    "叔叔 我姐 我哥 我弟 我妹 他爸 他妈 她爸 她妈 社工 保姆 护工 队长 室友"
)
STAFF = words(
    "医 参加人员 参加者 出席人员 主持人 讨论者 汇报人 记录员 交班护士 接班护士 交班者 接班者 交班人 接班人 "
    "医生 医师 主治医师 主治医生 主任医师 副主任医师 住院医师 主管医师 管床医生 值班医生 经治医生 "
    "报告医生 报告医师 申请医生 审核医生 审核医师 接诊医生 会诊医师 会诊医生 谈话医师 谈话医生 记录医师 "
    "上级医师 查房医师 手术医生 手术医师 麻醉医生 麻醉医师 麻醉师 开单医生 送检医生 操作医师 操作者 "
    "检查医师 诊断医师 护士 责任护士 器械护士 巡回护士 洗手护士 手术室护士 护师 主管护师 护士长 药师 "
    "技师 主刀 主刀医生 术者 第一助手 第二助手 助手 一助 二助 三助 麻醉 记录人 记录者 记录 审核 审核人 "
    "审核者 报告人 检查者 签名 医师签名 医生签名 护士签名 患者签名 家属签名 签字 医师签字 医生签字 "
    "患者签字 家属签字 代签 签署人 主治 主任 科主任 副主任 院长 抄送 经办人 执行人 核对人 复核人 录入人 "
    # shift hand-over, midwives and the rest of a team (交班：, 接生者：, 灌注师：, 协调员：)
    "交班 接班 接生 接生者 助产士 协调员 联络员 灌注师 治疗师 康复师 营养师 技术员 主持 主讲 讲者 医助"
)
# Roles that are also plain words (麻醉方式, 记录完整, 父母): a name follows them only after a colon or space.
NEED_COLON = set(
    words(
        "麻醉 记录 审核 签名 签字 助手 父 母 夫 妻 子 女 本人 代签 患 医 主治 主任 科主任 副主任 院长 抄送 甲方 乙方 "
        "交班 接班 接生 主持 主讲 联系 翻译 朋友 同事 同学 邻居 父母 孩子 宝宝 大名 小名 原名",
        HEADER_ONLY,
    )
)
STAFF_TITLES = words(
    "主任医师 副主任医师 主治医师 住院医师 主任 医师 医生 大夫 护士长 护士 护师 教授 院长 药师 博士 老师 助产士 技师 "
    "治疗师 康复师 营养师 主治 副主任 住院医 主治医 警官 处长 科长"
)
POLITE_TITLES = words(
    "女士 先生 小姐 太太 阿姨 大爷 大妈 奶奶 爷爷 师傅 同志 老人 同学 小朋友 "
    "老先生 老太太 老太 老爷子 老人家 伯伯 叔叔 婆婆 阿婆 "
    "哥 姐 姨 叔 嫂 婶"  # 王哥, 柏姐别慌, 谢谢阮姐: a surname with a kinship word is a person
)

# Clinical verbs jieba does not know; added to a private dictionary so a name before them ends in the right place.
CLINICAL_WORDS = words(
    "代诉 主诉 自诉 陪同 陪护 签字 签名 开具 来电 查房 记录 审核 就诊 复诊 到院 入院 出院 参加 诉 述 交班 接班 值班"
)


@lru_cache(maxsize=1)
def segmenter():
    """A private jieba tokenizer (its own dictionary, so Qilin's other jieba users are untouched)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in CLINICAL_WORDS:
        tokenizer.add_word(word, freq=100000)
    return tokenizer


# Body parts a side (左/右/双) is written before; 左乳外上象限 opens with one, and 左 is a surname.
_BODY_PARTS = list("乳肺肾眼耳手足膝髋肩肘腕踝腿臂胸腹背腰颈侧心房室叶趾指颞额顶枕颊颌股胫腓腘腋下上前后")
_BODY_PARTS += words("大腿 小腿 锁骨 卵巢 冠状 附件 输卵管 输尿管 乳腺 甲状腺 腹股沟 半身 肢")
# Characters of anatomy, disease and bedside care that no given name uses: a "name" holding one is a medical word
# (全腹, 平卧位, 冷敷, 毛刺征, 皮牵引, 管状胃).
NOT_IN_GIVEN_NAMES = set(
    "病症癌瘤疹痛炎疮疡痂痿瘫痪痹搐嗽栓梗疝痔疣癣疱脓肿胀瘀溃腹膝髋肘腕踝肺肾肝胆脾胃肠卵巢囊腺髓颅腔膜窦脐腋肛尿"
    "便痰咳喘吐泻酸钠钾钙脂敷卧牵刺骨脏膀胱腿臂椎肋臀趾胶状底穿剂栓疸痒瘘癫痫"
)
# Characters of drug and chemical names (艾司唑仑, 金刚烷胺): nor is a name followed by one (艾司|唑).
DRUG_CHARACTERS = set("唑仑胺烷醇酮酯肽汀苷铵氯氟碘硝磺脲嗪啶嘧咪吡哌噻酚羟苯巯腈药")  # 药: 高警示药品 holds no name
# Labels whose value is a thing, never a person (中医诊断：石淋, 术式：..., 药名：...), and what a bracket after a
# procedure, a drug form or a disease holds (微创旋切术（麦默通）: the device's name).
THING_LABEL = re.compile(r"诊断|病名|证型|证候|术式|手术名称|药名|药品|名称|检查项目|部位|方法|方案")
THING_BEFORE_BRACKET = set("术法剂片丸散汤膏液针症病炎癌瘤征型期")
NOT_IN_GIVEN_NAMES |= DRUG_CHARACTERS


@lru_cache(maxsize=1)
def medical_words() -> frozenset[str]:
    """Words that open with a surname but are never a name: not_names.txt and the bundled knowledge base's terms."""
    found = {side + part for side in "左右双" for part in _BODY_PARTS}  # 左乳, 右膝, 双肺: sides of the body
    for line in (_RESOURCES / "deid" / "not_names.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            found.update(line.split())
    kb = json.loads((_RESOURCES / "medical_kb.json").read_text(encoding="utf-8"))
    for disease in kb["diseases"]:
        for key in ("name", "aliases", "symptoms", "examinations", "treatments", "complications", "risk_factors"):
            value = disease.get(key, [])
            found.update([value] if isinstance(value, str) else value)
    found.update([w[:4] for w in found if len(w) > 4])  # 张口困难伴一侧软腭膨隆: its opening words are enough
    return frozenset(w for w in found if len(w) >= 2)


def opens_medical_word(text: str, i: int) -> bool:
    words = medical_words()
    return any(text[i : i + n] in words for n in range(2, 11))


def medical_word_from(text: str, i: int, shortest: int) -> bool:
    """Whether a medical word of at least `shortest` characters starts at `i` (甘露醇 at 甘露: not the name 甘露)."""
    words = medical_words()
    return any(text[i : i + n] in words for n in range(max(shortest, 2), 11))


def medical_word_ending(text: str, end: int) -> bool:
    """Whether a medical word ends at `end` (华法林 before 医生: 林 is no surname there)."""
    words = medical_words()
    return any(text[end - n : end] in words for n in range(2, min(end, 10) + 1))


def medical_word_across(text: str, start: int, end: int) -> bool:
    """Whether a medical word starts inside text[start:end] and runs past `end` (患儿子宫: 儿子 is no role there)."""
    words = medical_words()
    return any(text[k : k + n] in words for k in range(start + 1, end) for n in range(end - k + 1, 11))


@lru_cache(maxsize=65536)
def is_common_word(word: str) -> bool:
    """A frequent dictionary word that is not a person's name (高血压, 常规): not a name after 患者."""
    import jieba.posseg

    return segmenter().FREQ.get(word, 0) >= 50 and jieba.posseg.dt.word_tag_tab.get(word, "nr")[:2] != "nr"


def surname_length(text: str, i: int, rare: bool = False) -> int:
    """Length of the surname starting at `text[i]` (2 for 欧阳, 1 for 王), 0 if none; `rare` admits RARE_SURNAMES."""
    if text[i : i + 2] in COMPOUND_SURNAMES:
        return 2
    if i < len(text) and (text[i] in SURNAMES or (rare and text[i] in RARE_SURNAMES)):
        return 1
    return 0


# jieba's tags for a given name it does not know as one: proper nouns, places, plain nouns and adjectives.
_GIVEN_NAME_TAGS = {"nz", "ns", "n", "ng", "a", "an", "nt"}


@lru_cache(maxsize=1)
def _tagger():
    import jieba.posseg

    # jieba's tagger on our private dictionary, sharing the tag table jieba already read (POSTokenizer() reads it
    # again from disk, about a second a process)
    tagger = object.__new__(jieba.posseg.POSTokenizer)
    tagger.tokenizer, tagger.word_tag_tab = segmenter(), jieba.posseg.dt.word_tag_tab
    return tagger


@lru_cache(maxsize=65536)
def tagged_as_name(word: str) -> bool:
    """Whether jieba's part-of-speech tags read `word` as a person's name (nr, nrfg, nrt), whole or after a surname.

    Slow (about a millisecond a word): callers ask only for a short cell that a label or a line start announces.
    """
    tokens = list(_tagger().cut(word))
    if all(t.flag.startswith("nr") for t in tokens):
        return True
    head, rest = tokens[0], tokens[1:]
    if rest and head.flag.startswith("nr") and len(head.word) > 1 and len(word) - len(head.word) == 1:
        return True  # 孟磊|国: a name jieba knows, and one more given character
    if not rest or surname_length(head.word, 0, rare=True) != len(head.word):
        return False
    # 卫东 tagged nr after 钱; the surname tagged nr and one noun-like given name after it (秦|海波, 鲁|振华);
    # a compound surname, whatever jieba calls it (司徒|明: 司徒 is also a word), before a given name that is no word
    return (
        rest[0].flag.startswith("nr")
        or (head.flag.startswith("nr") and len(rest) == 1 and rest[0].flag in _GIVEN_NAME_TAGS)
        or (len(head.word) == 2 and not (len(word) == 4 and is_common_word(word[2:])) and not is_common_word(word))
    )
