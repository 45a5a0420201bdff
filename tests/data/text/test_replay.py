"""Replay mixing: the share of general blocks, the draw, and the mixed items."""

from pathlib import Path

import numpy as np
import pytest

from qilin.config import ModelSettings
from qilin.data.text.replay import ReplayMix, replay_count, replay_draw
from qilin.models.loading import load_tokenizer
from qilin.stages import cpt
from tests.conftest import corpus_lines


def test_replay_count_makes_the_share_of_an_epochs_blocks() -> None:
    assert replay_count(90, 0.1) == 10  # 10 of 100 blocks
    assert replay_count(100, 0.5) == 100
    assert replay_count(100, 0.0) == 0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        replay_count(100, 1.0)


def test_the_draw_cycles_through_every_block_before_repeating_one() -> None:
    draw = replay_draw(7, 17, seed=0)
    counts = np.bincount(draw, minlength=7)
    assert len(draw) == 17 and counts.min() == 2 and counts.max() == 3
    assert sorted(draw[:7]) == list(range(7))  # the first 7 are a permutation
    np.testing.assert_array_equal(draw, replay_draw(7, 17, seed=0))
    assert not np.array_equal(draw, replay_draw(7, 17, seed=1))
    assert len(replay_draw(5, 0, seed=0)) == 0


def test_the_mix_holds_every_domain_block_once_and_the_share_of_general_ones(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    medical = tmp_path / "medical.txt"
    medical.write_text("\n".join(corpus_lines(600, seed=1)) + "\n", encoding="utf-8")
    general = tmp_path / "general.txt"
    general.write_text("\n".join(f"{i}加{i}等于{2 * i}。" for i in range(200)) + "\n", encoding="utf-8")
    tokenizer = load_tokenizer(tiny_model_dir, ModelSettings())
    blocks = cpt.build_packed_corpus([medical, general], ["m", "g"], tokenizer, 32, tmp_path / "cache")
    domain = blocks.sources[0]["blocks"]
    mix = ReplayMix(blocks, ["general"], 0.25, seed=3)
    assert mix.domain_blocks == domain and mix.replay_blocks == round(domain / 3)
    assert abs(mix.share() - 0.25) < 0.01 and len(mix) == mix.domain_blocks + mix.replay_blocks
    sources = [mix[i]["source"].item() for i in range(len(mix))]
    assert sources.count(0) == domain and sources.count(1) == mix.replay_blocks
    assert sorted(mix.indices[:domain]) == list(range(domain))
    general_tokens = [int((np.asarray(blocks.data[i, 1]) != -1).sum()) for i in mix.indices[domain:]]
    assert mix.real_tokens() == blocks.sources[0]["tokens"] + sum(general_tokens)
    with pytest.raises(ValueError, match="not in the packed corpus"):
        ReplayMix(blocks, ["wiki"], 0.1, seed=0)
    with pytest.raises(ValueError, match="needs domain text"):
        ReplayMix(blocks, ["medical", "general"], 0.1, seed=0)
