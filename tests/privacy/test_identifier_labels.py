"""Identifiers by label and shape (cards, accounts, record numbers, dates, addresses) and organisations by suffix."""

from __future__ import annotations

from qilin.privacy.detect import detect_phi


def found(text: str, kind: str) -> list[str]:
    return [s.value for s in detect_phi(text) if s.type == kind]


def test_cards_by_label_with_spaces_and_by_an_account_label() -> None:
    assert found("就诊卡：6222 0311 2233 4455\n", "card") == ["6222 0311 2233 4455"]
    assert found("退款账户：6228 4800 1122 3344 556（农业银行）", "card") == ["6228 4800 1122 3344 556"]
    # a lab value with spaces after no card label stays
    assert found("血小板 120 ×10^9/L，白细胞 5.6", "card") == []


def test_bracketed_labels_take_their_value() -> None:
    assert found("【住院号】00917723\n【入院】", "record") == ["00917723"]
    assert found("Hospital Number: HX-2023-0412-7\n", "record") == ["HX-2023-0412-7"]


def test_accounts_user_names_nicknames_and_public_accounts() -> None:
    assert found("patient portal username lchen_1990.", "account") == ["lchen_1990"]
    assert found("群内昵称“乐乐妈”，按时打卡", "account") == ["乐乐妈"]
    assert found("在公众号“健康某城”申请", "account") == ["健康某城"]
    # "login from" is English, not a user name
    assert found("failed login from 10.1.2.3", "account") == []


def test_dates_with_two_digit_years_and_ordinals() -> None:
    assert found("Admitted 2/7/23, d/c 2/11/23.", "date") == ["2/7/23", "2/11/23"]
    assert found("seen on the 3rd of March, 2022 with", "date") == ["the 3rd of March, 2022"]
    # blood pressure and ratios are no dates
    assert found("BP 120/80, ratio 1/3, dose 2/3 tablet", "date") == []


def test_addresses_with_spaced_labels_and_more_street_kinds() -> None:
    assert found("现 住 址：江苏省南京市鼓楼区中山路12号\n", "address") == ["江苏省南京市鼓楼区中山路12号"]
    assert found("Address: 14 Willow Crescent, Springfield, IL 62704.", "address") != []


def test_organisations_by_suffix_on_one_line() -> None:
    assert found("Referred from Oak Hill Nursing Home.", "org") == ["Oak Hill Nursing Home"]
    assert found("a student at University of Vermont.", "org") == ["University of Vermont"]
    # a name on the line above is no part of a hospital's name
    assert found("Attending: Dr. Amy Lee\nHospital: Mercy Hospital", "org") == ["Mercy Hospital"]
    # generic facilities are not names of one
    assert found("附近有什么医院？请到二级以上医院或结核病定点医院就诊", "org") == []


def test_universities_pharmacies_and_care_homes_but_not_roads_or_generic_ones() -> None:
    assert found("他是复旦大学的学生，在益丰大药房买药，住在夕阳红养老院", "org") == [
        "复旦大学",
        "益丰大药房",
        "夕阳红养老院",
    ]
    assert found("我女儿大学毕业，考上大学，很多药店，医院药房", "org") == []
    # a road named after a university is an address, found whole
    assert found("现住址：北京市海淀区学院路37号", "address") == ["北京市海淀区学院路37号"]
