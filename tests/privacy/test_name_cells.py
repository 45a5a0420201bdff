"""Names in header cells, team lines, brackets, nicknames and dialogues, and the medical words each rule spares."""

from __future__ import annotations

from qilin.privacy.detect import detect_phi
from qilin.privacy.record import deid_texts
from qilin.privacy.roles import medical_words, surname_length, tagged_as_name


def names(text: str) -> list[str]:
    return [s.value for s in detect_phi(text) if s.type == "name"]


def masked(*texts: str) -> list[str]:
    return deid_texts(list(texts))[0]


def test_a_name_that_is_also_a_word_stands_alone_in_a_name_cell() -> None:
    # 海燕, 青山 are dictionary words; in a cell of their own after a name label they are names
    assert names("姓名：姜海燕　性别：女　年龄：38岁") == ["姜海燕"]
    assert names("主刀：钟青山　一助：任　二助：卫东升\n") == ["钟青山", "任", "卫东升"]
    assert names("交班：孟凡　接班：严雪\n") == ["孟凡", "严雪"]
    # a plain word after a label that is also a word (记录, 审核) is no name
    assert names("审核：通过\n记录：完整\n麻醉：满意\n") == []


def test_rare_surnames_count_after_a_label_only() -> None:
    assert surname_length("竺", 0) == 0 and surname_length("竺", 0, rare=True) == 1
    assert names("器械护士：童　巡回护士：竺\n") == ["童", "竺"]
    assert names("主刀：萧主任　麻醉：弓医生\n") == ["萧", "弓"]
    assert names("山区水源充足") == []


def test_label_with_an_aside_a_bracket_or_jiao() -> None:
    assert names("委托人（签字/手印）：贺兰芳\n") == ["贺兰芳"]
    assert names("【患者】詹海峰\n【住院号】") == ["詹海峰"]
    assert names("家属：我儿子叫伍家豪，今年八岁") == ["伍家豪"]
    assert names("其男友宁浩然陪同就诊") == ["宁浩然"]


def test_jieba_tags_decide_unlabelled_cells() -> None:
    assert tagged_as_name("纪晓岚") and not tagged_as_name("高血压")
    assert names("手术记录\n鲁振华\n日期：") == ["鲁振华"]
    assert names("神经电生理：易凡\n") == ["易凡"]
    assert names("患者：陶老太太（陶秀英），80岁") == ["陶", "陶秀英"]
    # a first cell, a label's value or a bracket that is a medical word stays
    assert names("病程记录\n平卧位\n诊断：左膝\n处理：（冷敷）") == []


def test_titles_nested_or_as_labels_and_names_after_a_department_or_a_verb() -> None:
    out = masked("用户：我爸甘德顺今年75了，血压高", "医生：您父亲甘老先生最好来门诊")
    assert out == ["用户：我爸[姓名1]今年75了，血压高", "医生：您父亲[姓名1]老先生最好来门诊"]
    assert names("健康宣教记录\n宣教护士：冯护士") == ["冯"]
    assert names("心内科彭晓东医师门诊") == ["彭晓东"]
    assert names("立即通知卢海医生到场") == ["卢海"]
    assert names("剂量调整应由医生决定，处方需有医师签名") == []


def test_nicknames_kin_in_brackets_and_line_openers() -> None:
    assert names("医生：小刘你好，结果出来了") == ["刘"]
    assert names("联系：贾斌（弟）") == ["贾斌"]
    assert names("本人鲍玉兰，身份证号见附件") == ["鲍玉兰"]
    # 小时, 小于 are words; 子宫 after a space is no relative
    assert names("每小时一次，小于5mm，缩宫素 10U 子宫肌注") == []


def test_a_polite_title_in_a_dialogue_is_the_one_relative_of_that_surname() -> None:
    out = masked("家属：我是她女儿蔡丽君。", "护士：蔡女士您好，阿姨今天好些吗？")
    assert out == ["家属：我是她女儿[姓名1]。", "护士：[姓名1]女士您好，阿姨今天好些吗？"]
    # in one note, a patient addressed by title and a son of that surname stay two persons
    out = masked("患者：雷先生，61岁，吞咽困难。患者之子雷雨要求复印病历。")
    assert out == ["患者：[姓名1]先生，61岁，吞咽困难。患者之子[姓名2]要求复印病历。"]


def test_medical_words_are_never_names_in_the_new_cues() -> None:
    # a known name is not masked inside a longer medical word
    assert (
        masked("姓名：甘露　性别：女\n处理：必要时甘露醇 125mL")[0]
        == "姓名：[姓名1]　性别：女\n处理：必要时甘露醇 125mL"
    )
    # an eponym's characters may open a name in a name cell, but an eponym alone is a disease
    assert names("姓名：巴特尔　性别：男") == ["巴特尔"]
    assert names("患者：帕金森\n诊断：马方综合征") == []
    # sides of the body, anatomy and drug characters, times in Chinese numerals
    assert {"左乳", "右膝", "双肺"} <= medical_words()
    assert names("患者左乳外上象限肿块，患者全腹压痛，患者艾司唑仑过量，患者于十时许腹痛") == []


def test_jieba_tags_read_compound_and_function_word_surnames() -> None:
    # 司徒 is also a word and 曾 a function word; alone in a cell they open a name
    assert names("家属（司徒明）到场\n曾欣\n") == ["司徒明", "曾欣"]
    # a compound surname before a common word is that word (东方医院), not a name
    assert names("东方医院\n") == []


def test_a_name_greeted_in_chinese() -> None:
    assert names("医生：柯文静您好，结果已出。") == ["柯文静"]
    assert names("阿姨您好，医生您好，大家好，同学你好") == []


def test_a_full_name_in_brackets_after_a_titled_surname_is_that_person() -> None:
    out = masked("出院记录\n罗老师（罗志勇），男，60岁")
    assert out == ["出院记录\n[姓名1]老师（[姓名1]），男，60岁"]
