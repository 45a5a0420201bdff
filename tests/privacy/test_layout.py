"""Fallback rules by layout and shape: numbers after any number label, short dates, table cells, chat tags, letters.

Every variant here was written for the test (no string of an evaluation set); each class has a guard that medical
text of the same shape stays intact.
"""

from __future__ import annotations

from qilin.privacy.detect import detect_phi
from qilin.privacy.record import deid_texts


def found(text: str, *kinds: str) -> list[str]:
    return [s.value for s in detect_phi(text) if not kinds or s.type in kinds]


def test_numbers_after_any_short_number_label() -> None:
    assert found("血透号：XT-20231  干体重 58kg") == ["XT-20231"]
    assert found("放疗号 RT20240117\n") == ["RT20240117"]
    assert found("交警警号038812到场") == ["038812"]
    assert found("NHI: ABC1234   CCF #: 55120933", "record") == ["ABC1234", "55120933"]
    assert found("科研编号：YJ-KT-004417", "record") == ["YJ-KT-004417"]
    assert found("护照号 G12345678", "id") == ["G12345678"]
    assert found("社保编号 | 44030019870512 |") == ["44030019870512"]


def test_measurements_and_product_numbers_after_a_label_stay() -> None:
    for text in (
        "FEV1 1.62L，FVC 2.10L",
        "CK 12800U/L，LDH 560U/L",
        "HR 88次/分，RR 20次/分",
        "CA 19-9 35.2U/ml",
        "药品批号：20230415，型号 GE-5000",
        "床号 12，NIHSS 6分",
        "ICD编码：I63.900",
        "血小板 250×10^9/L，血压 120/80mmHg",
        "国药准字H20051234",
    ):
        assert found(text) == [], text


def test_short_dates_where_a_date_stands() -> None:
    assert found("4.2入院，4.9出院。", "date") == ["4.2", "4.9"]
    assert found("Seen on 5/14 in clinic; admitted 6/2 with sepsis.", "date") == ["5/14", "6/2"]
    assert found("复诊日期 26/1/9\n采样 24-11-03 08:00", "date") == ["26/1/9", "24-11-03"]
    assert found("DOB: 03-FEB-1971", "date") == ["03-FEB-1971"]
    assert found("Sent: Tue, 4 Feb 2025 09:12", "date") == ["Tue, 4 Feb 2025 09:12"]
    assert found("Wednesday, May 7, 2025 at noon", "date") == ["Wednesday, May 7, 2025"]
    assert found("short of breath since October.", "date") == ["October"]


def test_lab_values_scores_and_ratios_are_not_short_dates() -> None:
    for text in (
        "血钾 3.10 mmol/L，复查3.10mmol/L",
        "K 3.5，Na 135，甘油三酯降至6.2。",
        "血糖低于3.5时进食",
        "疼痛评分 2/10，BP 120/80，每次1/2片",
        "Hb 12.5 g/dL, ratio 1.5",
        "EF 55%，E/A 0.8",
    ):
        assert found(text, "date") == [], text


def test_phones_with_a_country_code() -> None:
    assert found("Mobile +61 412 555 019, home +44 20 7946 0958", "phone") == ["+61 412 555 019", "+44 20 7946 0958"]
    assert found("评分 +2，BE +3.5 mmol/L") == []


def test_names_in_table_and_form_cells() -> None:
    assert found("姓名|欧阳小慧|性别|女", "name") == ["欧阳小慧"]
    assert found("父亲\t贾建业\t母亲\t苏晴\t电话", "name") == ["贾建业", "苏晴"]
    assert found("检验者 向东  审核 祁\n", "name") == ["向东", "祁"]
    assert found("麻醉 滕、柳青；器械 卞玲", "name") == ["滕", "柳青", "卞玲"]
    assert found("床号 | 姓名 | 诊断\n5 | 夏雨 | 肺炎 |", "name") == ["夏雨"]


def test_form_cells_that_hold_no_name_stay() -> None:
    for text in ("麻醉 全麻   审核 通过", "| 诊断 | 高血压 |", "费别 医保   性别 男", "器械 清点无误"):
        assert found(text, "name") == [], text


def test_chat_speaker_tags() -> None:
    assert found("老周：你好，结果出来了吗", "name") == ["周"]
    assert found("冉姐：好的，明天带过来", "name") == ["冉"]
    assert found("乐乐妈妈：孩子又发烧了", "name") == ["乐乐"]
    assert found("护士郝：请明早空腹", "name") == ["郝"]
    assert found("[医生小钟] 收到", "name") == ["钟"]
    assert found("范：下午两点手术", "name") == ["范"]


def test_section_labels_that_open_a_line_are_not_speakers() -> None:
    for text in ("查体：心肺无异常", "主诉：头痛3天", "诊断：肺炎", "处理：补液", "续方：氨氯地平片", "注：空腹"):
        assert found(text, "name") == [], text


def test_english_letters_e_mails_and_capitalised_surnames() -> None:
    assert found("Re: Ms Danielle Okoro, DOB 1/2/1980", "name") == ["Danielle Okoro"]
    assert found("Kind regards,\nPriyanka", "name") == ["Priyanka"]
    assert found("PATIENT NAME: NGUYEN, Thi-Lan     MRN", "name") == ["NGUYEN, Thi-Lan"]
    assert found("Reviewed by Dr TAN (HO).", "name") == ["TAN"]
    assert found("From: Marcus Bell <m.bell@clinic.org>", "name") == ["Marcus Bell"]
    assert found("Child: Oliver Grant, age 6", "name") == ["Oliver Grant"]


def test_english_words_that_look_like_names_stay() -> None:
    for text in ("Dear Colleague,", "admitted to NICU.", "Consultant Cardiologist", "Subject: Follow-up of MRI"):
        assert found(text, "name") == [], text


def test_a_first_name_or_a_given_name_alone_takes_its_full_names_placeholder() -> None:
    out, _ = deid_texts(["Patient: Oliver Grant.\nI reviewed Oliver today."])
    assert out == ["Patient: [NAME1].\nI reviewed [NAME1] today."]
    out, _ = deid_texts(["夜班护士：秦雪梅", "雪梅：已执行"])
    assert out == ["夜班护士：[姓名1]", "[姓名1]：已执行"]


def test_addresses_without_a_province_and_postcodes() -> None:
    assert found("住大理州宾川县金牛镇，务农", "address") == ["大理州宾川县金牛镇"]
    assert found("家在海淀区学院路街道附近", "address") == ["海淀区学院路街道"]
    assert found("邮编：100083", "address") == ["100083"]
    assert found("Home: 12 Beach Rd, Bondi NSW 2026.", "address") == ["12 Beach Rd, Bondi NSW 2026"]
    assert found("Flat 2, 9 Mill Lane, Leeds LS1 4AB", "address") == ["Flat 2, 9 Mill Lane, Leeds LS1 4AB"]


def test_anatomy_and_ward_areas_are_not_addresses() -> None:
    for text in ("病区护士站交班", "术区敷料干燥，心尖区收缩期杂音", "肝区叩痛，盲区", "三病区32床"):
        assert found(text, "address") == [], text


def test_diagnoses_devices_and_drug_words_named_like_people_stay() -> None:
    for text in (
        "中医诊断：石淋（下焦湿热证）\n证型：肝郁脾虚",
        "行超声引导下微创旋切术（麦默通），术后加压包扎",
        "12床高警示药品（10%氯化钾）未单独存放",
    ):
        assert found(text, "name") == [], text


def test_user_names_by_shape_and_after_a_user_label() -> None:
    assert found("用户（haodf_20931877）：医生，我想问", "account") == ["haodf_20931877"]
    assert found("From: lwang_88 (Li Wang)", "account") == ["lwang_88"]
    assert found("微信名：小鱼_sunny\n", "account") == ["小鱼_sunny"]
    assert found("[用户:nurse_chenli] 登录系统", "account") == ["nurse_chenli"]


def test_words_joined_by_underscores_without_a_digit_or_label_stay() -> None:
    assert found("序列 T2_FLAIR 与 DWI_b1000 显示", "account") == []
    assert found("Warning：偷偷给老人吃药有风险", "name") == []


def test_organisations_by_more_suffixes_and_after_chinese_text() -> None:
    assert found("转诊至Oakridge Health Centre随访", "org") == ["Oakridge Health Centre"]
    assert found("Seen at Maple Bay Surgery. Follow up at Riverside Pediatrics.", "org") == [
        "Maple Bay Surgery",
        "Riverside Pediatrics",
    ]
    assert found("transferred to Children's Hospital of Denver today", "org") == ["Children's Hospital of Denver"]
    assert found("在湖南省肿瘤防治中心复查", "org") == ["湖南省肿瘤防治中心"]


def test_departments_and_field_labels_are_not_organisations() -> None:
    for text in ("Rheumatology Clinic note", "Cardiac Surgery review", "Day Surgery unit", "申请医院：", "出生医院："):
        assert found(text, "org") == [], text


def test_inverted_capitalised_names_and_pinyin_surnames_keep_persons_apart() -> None:
    out, _ = deid_texts(["PATIENT NAME: WONG, Mei-Ling\nMs. Wong tolerated the procedure."])
    assert out == ["PATIENT NAME: [NAME1]\nMs. [NAME1] tolerated the procedure."]
    out, _ = deid_texts(["my father Zhang Guoqiang is here", "Contact: Zhang Meiling (daughter). Zhang Guoqiang ok"])
    assert "[NAME1]" in out[0] and out[1].count("[NAME1]") == 1 and "[NAME2]" in out[1]
