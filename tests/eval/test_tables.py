"""Accuracy tables: percentages per group against hand-computed values."""

from qilin.eval.tables import accuracy_by_group


def test_each_question_counts_in_every_group_it_names() -> None:
    table = accuracy_by_group(
        [(True, ["all", "Type=x"]), (False, ["all", "Type=y"]), (True, ["all", "Type=y"]), (False, ["all"])]
    )
    assert table == {
        "Type=x": {"accuracy": 100.0, "n": 1},
        "Type=y": {"accuracy": 50.0, "n": 2},
        "all": {"accuracy": 50.0, "n": 4},
    }
    assert list(table) == ["Type=x", "Type=y", "all"]  # sorted, as both evaluations printed them


def test_accuracy_rounds_to_two_decimals() -> None:
    assert accuracy_by_group([(True, ["all"]), (False, ["all"]), (False, ["all"])])["all"]["accuracy"] == 33.33
