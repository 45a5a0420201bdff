"""The DPO audit of `qilin data check --kind dpo`: identical pairs, duplicates, length bias, counted and warned."""

from __future__ import annotations

from pathlib import Path

from qilin.cli import main
from qilin.data.preference.audit import audit_preferences
from tests.conftest import write_jsonl


def _pair(prompt: str, chosen: str, rejected: str) -> dict:
    return {"prompt": [{"role": "user", "content": prompt}], "chosen": chosen, "rejected": rejected}


def test_the_audit_counts_what_the_pairs_teach() -> None:
    pairs = [
        _pair("头痛怎么办？", "建议休息，持续不缓解请到神经内科就诊。", "不用管。"),
        _pair("头痛怎么办？", "建议休息，持续不缓解请到神经内科就诊。", "不用管。"),  # an exact repeat
        _pair("发热怎么办？", "多喝水。", "多喝水。 "),  # the same answer twice (whitespace aside)
        _pair("咳嗽挂什么科？", "呼吸内科。", "随便挂一个科室就可以了。"),
    ]
    audit = audit_preferences(pairs)
    assert (audit.pairs, audit.identical, audit.duplicates, audit.chosen_longer) == (4, 1, 1, 2)
    assert abs(audit.mean_length_ratio() - (19 / 4 * 2 + 1 + 5 / 12) / 4) < 1e-9
    warnings = audit.warnings()
    assert any("1 of 4 pairs have chosen == rejected" in w for w in warnings)
    assert any("1 of 4 pairs repeat an earlier pair" in w for w in warnings)
    assert not any("longer answer" in w for w in warnings)  # 50%: no length bias


def test_a_file_where_longer_wins_is_flagged_and_still_passes(tmp_path: Path, capsys) -> None:
    rows = [
        {"prompt": f"问题{i}", "chosen": "详细而谨慎的回答，建议就医。" * 2, "rejected": "不用管。"} for i in range(9)
    ]
    rows.append({"prompt": "问题9", "chosen": "短。", "rejected": "这是一个更长的被拒绝的回答。"})
    path = write_jsonl(tmp_path / "dpo.jsonl", rows)
    assert main(["data", "check", str(path), "--kind", "dpo"]) == 0  # warnings inform; they do not refuse the file
    out = capsys.readouterr().out
    assert "chosen longer in 90% of 10 pairs" in out
    assert "warning: 90% of pairs prefer the longer answer" in out and "longer wins" in out


def test_empty_answers_are_refused_as_bad_records(tmp_path: Path, capsys) -> None:
    path = write_jsonl(tmp_path / "dpo.jsonl", [{"prompt": "问题", "chosen": "  ", "rejected": "不用管。"}] * 2)
    assert main(["data", "check", str(path), "--kind", "dpo"]) == 1
    assert "field 'chosen': is empty" in capsys.readouterr().out
