"""Typed spans and per-record placeholders on hand-written notes."""

from __future__ import annotations

from qilin.privacy.detect import detect_phi
from qilin.privacy.record import deid_texts


def found(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in detect_phi(text):
        out.setdefault(s.type, []).append(s.value)
    return out


def test_labelled_id_with_a_wrong_check_digit_is_masked_an_unlabelled_number_is_not() -> None:
    # 110105198001011235: valid region and birth date, wrong check digit (the right one is 4)
    assert found("身份证号：110105198001011235")["id"] == ["110105198001011235"]
    assert found("证件号码 １１０１０５１９８００１０１１２３Ｘ")["id"] == ["１１０１０５１９８００１０１１２３Ｘ"]
    # no ID label, no birth date in it: not an ID (a sample number under its label is a record number)
    assert found("样本编号 123456789012345678") == {"record": ["123456789012345678"]}


def test_phone_forms() -> None:
    for phone in (
        "13812345678",
        "138 1234 5678",
        "+86 138-1234-5678",
        "0086 13812345678",
        "010-62345678",
        "(0755)8888 6666",
        "(617) 555-0198",
    ):
        assert found(f"联系电话：{phone}。")["phone"] == [phone], phone


def test_other_types() -> None:
    text = (
        "住院号：ZY2023001，MRN: 00482913，卡号 6222 0212 3456 7890 128，车牌粤B·D12345，"
        "邮箱 li.ming@163.com，见 https://fy.example.cn/a?id=3 ，IP 10.2.33.4，SSN 123-45-6789，"
        "家住浙江省杭州市西湖区文三路12号3栋501室，出生日期 1980年3月5日，出院 2023-05-12。"
    )
    got = found(text)
    assert got["record"] == ["ZY2023001", "00482913"]
    assert got["card"] == ["6222 0212 3456 7890 128"]
    assert got["plate"] == ["粤B·D12345"]
    assert got["email"] == ["li.ming@163.com"] and got["ip"] == ["10.2.33.4"] and got["ssn"] == ["123-45-6789"]
    assert got["url"] == ["https://fy.example.cn/a?id=3"]
    assert got["address"] == ["浙江省杭州市西湖区文三路12号3栋501室"]
    assert got["date"] == ["1980年3月5日", "2023-05-12"]


def test_names_in_context_and_medical_values_untouched() -> None:
    text = (
        "患者王小明，男，45岁，高血压病史10年，常规服用氨氯地平5mg qd，血压135/85mmHg，心率88次/分，"
        "家属欧阳娜娜陪同，张某某签字。"
    )
    got = found(text)
    assert got == {"name": ["王小明", "欧阳娜娜", "张某某"]}
    assert found("Patient John A. Smith was seen by Dr. Chen.\nElectronically signed by Mary Davis, MD") == {
        "name": ["John A. Smith", "Chen", "Mary Davis"]
    }
    assert found("患者高血压3级，体温38.5℃，WBC 12.3×10^9/L，HbA1c 7.2%，术后第3天，2019年确诊") == {}


def test_placeholders_are_consistent_within_a_record_and_distinct_between_people() -> None:
    (a, b), _ = deid_texts(["患者王小明，家属李华，电话138 1234 5678", "王小明复诊，电话13812345678"])
    assert a == "患者[姓名1]，家属[姓名2]，电话[电话1]"
    assert b == "[姓名1]复诊，电话[电话1]"
    (en,), _ = deid_texts(["Patient Mary Davis, phone (617) 555-0198."])
    assert en == "Patient [NAME1], phone [PHONE1]."


def test_surrogates_are_realistic_and_consistent() -> None:
    (a, b), spans = deid_texts(["患者王小明，电话13812345678", "王小明的电话是13812345678"], surrogates=True)
    name, phone = spans[0][0], spans[0][1]
    fake_name = a[2 : 2 + len(a) - len("患者，电话13812345678")]
    assert "王小明" not in a + b and "13812345678" not in a + b
    assert b.startswith(fake_name) and len(fake_name) == 2
    fake_phone = a[-11:]
    assert fake_phone.isdigit() and fake_phone.startswith("138") and b.endswith(fake_phone)
    assert (name.type, phone.type) == ("name", "phone")
