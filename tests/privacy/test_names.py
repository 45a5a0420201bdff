"""Names where hospitals write them, one placeholder per person, and the medical words that must stay."""

from __future__ import annotations

import pytest

from qilin.privacy.detect import detect_phi
from qilin.privacy.record import deid_texts


def names(text: str) -> list[str]:
    return [s.value for s in detect_phi(text) if s.type == "name"]


def masked(*texts: str) -> list[str]:
    return deid_texts(list(texts))[0]


def test_names_after_speaker_and_field_labels_at_line_start() -> None:
    assert names("患者：王小明，男，45岁\n主诉：头痛3天") == ["王小明"]
    assert names("病人：李四\n医生：王建国") == ["李四", "王建国"]
    assert names("姓名：邓超然\n性别：男\n年龄：45岁") == ["邓超然"]
    assert names("姓    名：马丽华\n联 系 人：马强") == ["马丽华", "马强"]
    # a speaker label that opens a turn of speech is not followed by a name
    assert names("患者：头痛三天了，吃了布洛芬。\n医生：建议复查头颅CT。\n家属：好的。") == []


def test_name_opening_a_sentence_with_sex_or_age() -> None:
    assert names("刘洋，男，32岁，因右下腹痛入院。") == ["刘洋"]
    assert names("入院记录。章子涵（女，35岁）因乳腺结节来诊") == ["章子涵"]
    assert names("男，32岁，因右下腹痛入院。") == []


def test_surgical_team_signatures_and_relatives() -> None:
    team = "主刀：张建华  一助：李明  二助：陈静\n麻醉：周涛  器械护士：吴芳  巡回护士：郑丽"
    assert names(team) == ["张建华", "李明", "陈静", "周涛", "吴芳", "郑丽"]
    assert names("因患者意识障碍，由患者之子刘刚签字。") == ["刘刚"]
    assert names("患者签名：司马光辉\n家属签字：司马婷\n签字：赵铁柱") == ["司马光辉", "司马婷", "赵铁柱"]
    assert names("3床严国栋，感染性休克") == ["严国栋"]
    assert names("麻醉方式：全身麻醉。记录完整。") == []


def test_surname_and_title_masks_the_surname() -> None:
    assert masked("张医生查房，王主任指示，李护士长交班，陈教授会诊")[0] == (
        "[姓名1]医生查房，[姓名2]主任指示，[姓名3]护士长交班，[姓名4]教授会诊"
    )
    # function words and common words before a title are not surnames
    assert names("请向医生咨询，和医生沟通，社区医生随访，班主任来电") == []


@pytest.mark.parametrize("surname", ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐"])
def test_compound_surnames(surname: str) -> None:
    assert names(f"患者{surname}明华，男，40岁") == [f"{surname}明华"]
    assert names(f"{surname}女士诉头晕") == [surname]


def test_english_names_with_titles_relations_and_signatures() -> None:
    text = (
        "Mr. Smith and Mrs. Garcia were seen by Dr. Emily Carter. Ms. Nguyen called.\n"
        "The patient's daughter Mary Johnson was updated. Next of kin: husband Michael O'Connor.\n"
        "Electronically signed by David Lee, MD"
    )
    assert names(text) == [
        "Smith",
        "Garcia",
        "Emily Carter",
        "Nguyen",
        "Mary Johnson",
        "Michael O'Connor",
        "David Lee",
    ]
    assert names("Margaret Wilson is a 78-year-old woman with heart failure.") == ["Margaret Wilson"]


MEDICAL = [
    "患者唐氏综合征",
    "患者马方综合征",
    "患者何杰金淋巴瘤化疗后",
    "患者帕金森病10年",
    "患者克罗恩病",
    "巴宾斯基征阳性",
    "墨菲征阴性",
    "患者左下肢疼痛",
    "患者高钾血症已纠正",
    "患者安静入睡",
    "患者神志清楚",
    "患者黄疸加重",
    "患者白细胞3.1×10^9/L",
    "患者金黄色葡萄球菌感染",
    "患者石骨症",
    "患者华法林过量",
    "患者甘露醇脱水",
    "患者安返病房",
    "患者时有心悸",
    "家属同意手术",
    "护士遵医嘱予吸氧",
    "血压135/85mmHg，心率88次/分，GCS 15分，Apgar评分9分",
    "Parkinson's disease, Hodgkin lymphoma, Down syndrome, Murphy's sign",
]


@pytest.mark.parametrize("text", MEDICAL)
def test_medical_words_are_never_names(text: str) -> None:
    assert detect_phi(text) == []


def test_dates_follow_safe_harbor() -> None:
    def dates(text: str) -> list[str]:
        return [s.value for s in detect_phi(text) if s.type == "date"]

    assert dates("患者于十二月五日出现发热") == ["十二月五日"]
    assert names("患者于十二月五日出现发热") == []
    assert dates("二〇二三年五月十二日入院") == ["二〇二三年五月十二日"]
    assert dates("2019年确诊糖尿病，2023年5月复发，2024-11-20 10:35入院") == ["2023年5月", "2024-11-20 10:35"]
    assert dates("Admitted April 3; seen March 2024; diagnosed in 2019.") == ["April 3", "March 2024"]


def test_accounts_organisations_and_insurance_cards() -> None:
    got = {
        (s.type, s.value)
        for s in detect_phi(
            "微信号：zgll_mama2018，QQ：384756291，微博：@小鱼儿的日记。医保卡号：M4401067788，"
            "就诊卡号：6100123456789。曾在北京协和医院、郑州市第一人民医院就诊，后转当地医院。"
        )
    }
    assert got == {
        ("account", "zgll_mama2018"),
        ("account", "384756291"),
        ("account", "@小鱼儿的日记"),
        ("card", "M4401067788"),
        ("card", "6100123456789"),
        ("org", "北京协和医院"),
        ("org", "郑州市第一人民医院"),
    }
    en = {(s.type, s.value) for s in detect_phi("Admitted to St. Mary's Hospital. Insurance ID: XHB993847211.")}
    assert en == {("org", "St. Mary's Hospital"), ("card", "XHB993847211")}


def test_one_placeholder_per_person_across_fields() -> None:
    assert masked("我叫赵丽颖，最近总是头痛", "赵女士您好，头痛多久了？") == [
        "我叫[姓名1]，最近总是头痛",
        "[姓名1]女士您好，头痛多久了？",
    ]
    # 王主任 is staff, not the patient 王小明; the daughter 方琳 is not 方先生
    assert masked("患者王小明，男，45岁。王主任查房。") == ["患者[姓名1]，男，45岁。[姓名2]主任查房。"]
    assert masked("患者方先生，腹胀。其女儿方琳陪同。") == ["患者[姓名1]先生，腹胀。其女儿[姓名2]陪同。"]
    # two full names share the surname: 李女士 (a polite title) is the patient's, not the relative's
    assert masked("患者李娜，家属李强陪同。李女士诉头晕。") == ["患者[姓名1]，家属[姓名2]陪同。[姓名1]女士诉头晕。"]
    # two patients' names share it: ambiguous, a placeholder of its own
    assert masked("患者李娜，患者李强。李女士诉头晕。") == ["患者[姓名1]，患者[姓名2]。[姓名3]女士诉头晕。"]
    assert masked("Patient Name: John Smith. Mr. Smith is 67. Dr. Patel saw him.") == [
        "Patient Name: [NAME1]. Mr. [NAME1] is 67. Dr. [NAME2] saw him."
    ]


def test_chat_turns_bare_surnames_after_labels_and_inverted_english_names() -> None:
    assert names("医：你叫什么名字？\n患：蔡明亮。\n医：哪里不舒服？\n患：拉肚子。") == ["蔡明亮"]
    assert names("执行护士：童\n会诊意见：同意。神经内科 阮文杰") == ["童", "阮文杰"]
    assert names("Name: Doe, John    DOB: 01/15/1950\nLinda Park, 45F, POD#2") == ["Doe, John", "Linda Park"]


def test_accounts_need_an_ascii_id_or_a_colon() -> None:
    assert detect_phi("通过微信随访，微信公众号推送，加QQ群咨询，账号密码遗失") == []
    assert [s.value for s in detect_phi("加我vx：dr_zhou_1985，把结果发我")] == ["dr_zhou_1985"]


def test_knowledge_base_terms_after_roles_are_not_names() -> None:
    """Every disease, symptom, test and drug of the bundled knowledge base, after the words that announce names."""
    import json

    from qilin.privacy.roles import _RESOURCES

    kb = json.loads((_RESOURCES / "medical_kb.json").read_text(encoding="utf-8"))
    terms = {
        t
        for d in kb["diseases"]
        for key in ("name", "aliases", "symptoms", "examinations", "treatments", "complications", "risk_factors")
        for t in ([d[key]] if isinstance(d.get(key), str) else d.get(key, []))
    }
    contexts = ("患者{}，建议复查。", "家属{}。", "患者：{}。", "病人{}明显", "患儿{}3天", "{}，男，45岁")
    wrong = [c.format(t) for t in sorted(terms) for c in contexts if detect_phi(c.format(t))]
    assert len(terms) > 2000 and wrong == []


def test_a_sentence_opened_by_a_name_and_what_a_patient_does() -> None:
    assert names("王小明今日复诊。李华自诉头痛3天。") == ["王小明", "李华"]
    assert names("余无特殊。常规予补液。全身皮肤无黄染。周围血管征阴性。刘磊应就诊") == []


def test_speech_after_a_speaker_label_is_not_a_name() -> None:
    turns = "患者：明白了。\n家属：明白。\n患者：都好了\n家属：谢谢\n患者：冯医生好"
    assert names(turns) == ["冯"]
    assert names("患者：李娜，女，30岁\n门诊号：M2024   患者：甘宁   费别：医保\n产妇褚英，G3P2") == [
        "李娜",
        "甘宁",
        "褚英",
    ]


def test_listed_names_and_more_report_numbers() -> None:
    assert names("参加人员：张三、李四、王五\n医师签名：刘建/陈晨\n代诉人：黎明（患者之子）") == [
        "张三",
        "李四",
        "王五",
        "刘建",
        "陈晨",
        "黎明",
    ]
    got = [(s.type, s.value) for s in detect_phi("超声号：US20241103021  病理号：P2024-11872")]
    assert got == [("record", "US20241103021"), ("record", "P2024-11872")]


def test_english_relatives_with_titles_us_cities_and_weekday_dates() -> None:
    text = "Phone call with patient's mother, Mrs. Alvarez, since Monday, June 3. Lives in Quincy, MA. CA 19-9 high."
    got = [(s.type, s.value) for s in detect_phi(text)]
    assert got == [("name", "Alvarez"), ("date", "Monday, June 3"), ("address", "Quincy, MA")]
    assert names("现病史：栗子涵同学，3天前受凉。值班医生：计   上级医生：应主任") == ["栗子涵", "计", "应"]
