"""Identifiers under their many labels, workplaces, and names in headers, lists and greetings (and what is none)."""

from __future__ import annotations

import json
import re

from qilin.privacy.evaluate import EVAL_DIR, evaluate_file, parse_marked
from qilin.privacy.record import deid_texts
from tests.privacy.test_detect import found


def test_phone_extensions_service_numbers_and_dotted_us_numbers() -> None:
    assert found("联系电话：0512-67781234转8021")["phone"] == ["0512-67781234转8021"]
    assert found("预约电话：0571-87236666-8002")["phone"] == ["0571-87236666-8002"]
    assert found("随访方式：电话（400-820-1199转3）")["phone"] == ["400-820-1199转3"]
    assert found("wife, 312.555.0147 ext. 22")["phone"] == ["312.555.0147 ext. 22"]
    assert found("血压 135/85mmHg，心率 88次/分，体重 65.5kg") == {}


def test_record_and_card_numbers_under_their_labels() -> None:
    assert found("MRN: 00482917    Acct #: A99018273")["record"] == ["00482917", "A99018273"]
    assert found("Encounter no. E-7781203.")["record"] == ["E-7781203"]
    assert found("体检编号：TJ20251015-0732")["record"] == ["TJ20251015-0732"]
    assert found("Policy no.: PLC-20391887")["card"] == ["PLC-20391887"]
    assert found("保单号：P2025330100887766")["card"] == ["P2025330100887766"]
    assert found("就诊卡，卡号是JZK0027715吧？")["card"] == ["JZK0027715"]
    for text in ("批号：202508A12", "设备编号：AB12345", "药品编号：H123456"):  # lots and products are nobody's
        assert found(text) == {}, text


def test_accounts_handles_and_english_addresses() -> None:
    assert found("我的微博是@橙子爱跑步，之前")["account"] == ["@橙子爱跑步"]
    assert found("My WeChat ID is kevintran_sf.")["account"] == ["kevintran_sf"]
    assert found("write to grace.liu88@example.org") == {"email": ["grace.liu88@example.org"]}
    home = "88 W. Lakeview Ave, Suite 210, Chicago, IL 60614"
    assert found(f"Home: {home}\n")["address"] == [home]


def test_workplaces_schools_and_generic_places() -> None:
    assert found("工作单位：苏州市第三中学\n")["org"] == ["苏州市第三中学"]
    assert found("单位：深圳市前海金融科技有限公司\n")["org"] == ["深圳市前海金融科技有限公司"]
    assert found("Employer: Midwest Freight Logistics\n")["org"] == ["Midwest Freight Logistics"]
    assert found("PCP at Maine Family Practice.")["org"] == ["Maine Family Practice"]
    generic = ("患者初中学历", "患儿幼儿园小班，发热", "商业保险公司报销", "每日2单位胰岛素", "工作单位：无",
               "可到原接种单位补办", "上周在你们医院做的胃镜", "出险医院：")  # fmt: skip
    for text in generic:
        assert "org" not in found(text), text


def test_names_after_header_labels_in_bracketed_lists_and_greetings() -> None:
    assert found("新生儿：伍梓萌　　母亲：伍丽萍")["name"] == ["伍梓萌", "伍丽萍"]
    assert found("被保险人：鲍佳　　保单号")["name"] == ["鲍佳"]
    listed = found("参加人员：黄振华（主治医师）、黄晓玲（护士长）、冷建国（患者之子）")["name"]
    assert listed == ["黄振华", "黄晓玲", "冷建国"]
    assert found("交班护士：焦玉　　接班护士：路晴")["name"] == ["焦玉", "路晴"]
    assert "name" not in found("患者新生儿高胆红素血症，建议复查。")
    assert "name" not in found("Hello Doctor, I have pain. Dear Patient, Should I stop?")
    texts, _ = deid_texts(["Patient: Hi Dr. Serrano, this is Kevin Tran.", "Doctor: Hi Kevin, your HbA1c is 8.1%."])
    assert texts == ["Patient: Hi Dr. [NAME1], this is [NAME2].", "Doctor: Hi [NAME2], your HbA1c is 8.1%."]


def test_a_polite_title_is_the_patient_not_the_relative_of_the_same_surname() -> None:
    texts, _ = deid_texts(["患者宋国强术后第一天，家属宋佳陪护。宋大爷精神好转。"])
    assert texts == ["患者[姓名1]术后第一天，家属[姓名2]陪护。[姓名1]大爷精神好转。"]


def test_marked_notes_name_their_persons() -> None:
    row = parse_marked("患者{name#P1:王小明}，{name#P1:王}先生")
    assert row["text"] == "患者王小明，王先生"
    assert [(s["value"], s["person"]) for s in row["spans"]] == [("王小明", "P1"), ("王", "P1")]


def test_second_round_development_notes() -> None:
    """The 40 notes of the second round (tuned on: a regression check, no measure of other notes)."""
    scores = evaluate_file(EVAL_DIR / "dev_notes2.jsonl")
    assert scores["records"] == 40 and scores["persons"] >= 90
    assert scores["names_recall"] >= 0.98 and scores["identifiers_recall"] == 1.0
    assert scores["types"]["org"]["recall"] >= 0.95 and scores["precision"] >= 0.98
    assert scores["protected_altered"] == 0.0
    assert len(scores["person_violations"]) <= 2, scores["person_violations"]  # 冯阿姨 (a relative) and 郝医生 (two 郝)


def test_names_after_a_preposition_a_bracketed_role_initials_and_more_header_labels() -> None:
    assert found("经李华护士核对医嘱")["name"] == ["李华"]
    assert found("王芳（护士）已核对")["name"] == ["王芳"]
    assert found("科主任：孙建国　　主治：何丽")["name"] == ["孙建国", "何丽"]
    assert found("甲方：蔡文　乙方：杨帆")["name"] == ["蔡文", "杨帆"]
    assert found("R. Johnson, MD")["name"] == ["R. Johnson"]
    assert found("Signed: J. Smith")["name"] == ["J. Smith"]
    for text in ("主任查房", "经主任同意", "经治疗后好转", "高血压（患者之子诉）", "对症治疗"):
        assert found(text) == {}, text


def test_surrogates_for_the_second_round_notes() -> None:
    """Every type found in the second-round notes gets a surrogate: no placeholder is left, no value kept."""
    rows = [json.loads(line) for line in (EVAL_DIR / "dev_notes2.jsonl").open(encoding="utf-8")]
    for row in rows:
        (out,), (spans,) = deid_texts([row["text"]], surrogates=True)
        assert spans and not re.search(r"\[[^\[\]]{1,8}\d\]", out), out
        for s in spans:
            if s.type != "name" or len(s.value) > 1:  # a bare surname may be drawn again by chance
                assert s.value not in out, (s, out)


def test_estates_numbered_streets_bare_card_labels_schools_and_pinyin_names() -> None:
    assert found("患者家住幸福小区5栋1单元301")["address"] == ["幸福小区5栋1单元301"]
    assert found("Address: 500 5th Ave, New York, NY 10110")["address"] == ["500 5th Ave, New York, NY 10110"]
    assert found("健康卡：4401002025001")["card"] == ["4401002025001"]
    assert found("a teacher at Lincoln Elementary School")["org"] == ["Lincoln Elementary School"]
    assert found("联系人: Wang Fang")["name"] == ["Wang Fang"]
    for text in ("服用阿莫西林0.5g，小区门诊随访", "患者：CT示 Left Lung", "Vitamin D 5000 IU, 3rd Street"):
        assert found(text) == {}, text
