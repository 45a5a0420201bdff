"""benchmarks/dpo_stage_wall.py's pairs and token accounting: multi-turn prompts are most of what trl computes, and
the packed layout computes each prompt once."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dpo_stage_wall import multi_turn_pairs, prompt_share  # noqa: E402


def test_multi_turn_pairs_and_the_prompt_share(tiny_model_dir: Path, tmp_path: Path) -> None:
    pairs, texts = multi_turn_pairs(6, seed=0, work=tmp_path)
    assert len(pairs) == 6 and texts
    for pair in pairs:
        roles = [m["role"] for m in pair["prompt"]]
        assert roles[0] == "system" and roles[-1] == "user" and 6 <= len(roles) <= 14  # 2-6 earlier rounds
        assert isinstance(pair["chosen"], str) and isinstance(pair["rejected"], str)
    share = prompt_share(tiny_model_dir, pairs, max_length=100_000)
    # the prompt runs twice in trl's layout and once (+1 opener token) in the packed one
    assert share["prompt_share"] > 0.5
    assert share["packed_over_trl_tokens"] < 1 - share["prompt_share"] / 2 + 0.01
    assert multi_turn_pairs(6, seed=0, work=tmp_path / "again")[0] == pairs  # seeded: the same pairs every run
