"""CPT data at scale: parallel tokenization, the shared packed cache, one source per block."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qilin.config import CptSettings, ModelSettings
from qilin.data.text import packed_cache
from qilin.data.text.packing import check_packed
from qilin.models.loading import load_tokenizer
from qilin.stages import cpt
from qilin.stages.protocol import StageContext
from tests.conftest import corpus_lines


@pytest.fixture
def tokenizer(tiny_model_dir: Path):
    return load_tokenizer(tiny_model_dir, ModelSettings())


def _two_sources(tmp_path: Path, n: int = 1500) -> list[Path]:
    medical = tmp_path / "medical.txt"
    medical.write_text("\n".join(corpus_lines(n, seed=1)) + "\n", encoding="utf-8")
    general = tmp_path / "general.jsonl"
    general.write_text(
        "".join(f'{{"text": "第{i}天，{line}"}}\n' for i, line in enumerate(corpus_lines(n // 2, seed=2))),
        encoding="utf-8",
    )
    return [medical, general]


def test_packed_corpus_is_byte_identical_whatever_the_number_of_processes(tokenizer, tmp_path: Path) -> None:
    paths = _two_sources(tmp_path)
    one = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 64, tmp_path / "one", processes=1)
    three = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 64, tmp_path / "three", processes=3)
    (bin_one,) = (tmp_path / "one").glob("*.bin")
    (bin_three,) = (tmp_path / "three").glob("*.bin")
    assert bin_one.read_bytes() == bin_three.read_bytes()
    assert bin_one.with_suffix(".json").read_bytes() == bin_three.with_suffix(".json").read_bytes()
    assert one.source_names == three.source_names == ["medical", "general"]
    assert len(one) > 100 and one.real_tokens() == three.real_tokens()


def test_each_block_holds_one_source(tokenizer, tmp_path: Path) -> None:
    """The mixed corpus is each source packed alone, one after the other, and items say which source."""
    paths = _two_sources(tmp_path, n=300)
    mixed = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 64, tmp_path / "mixed")
    alone = [cpt.build_packed_corpus([p], [f], tokenizer, 64, tmp_path / f) for p, f in zip(paths, "ab", strict=True)]
    np.testing.assert_array_equal(mixed.data, np.concatenate([alone[0].data, alone[1].data]))
    assert mixed.with_source and not alone[0].with_source
    assert [mixed[i]["source"].item() for i in (0, len(alone[0]) - 1, len(alone[0]), len(mixed) - 1)] == [0, 0, 1, 1]
    assert set(mixed[0]) == {"input_ids", "position_ids", "labels", "source"}
    assert set(alone[0][0]) == {"input_ids", "position_ids", "labels"}
    assert mixed.real_tokens() == alone[0].real_tokens() + alone[1].real_tokens()


def test_cache_outlives_the_stage_directory(
    tiny_model_dir: Path, qilin_cache: Path, tmp_path: Path, monkeypatch
) -> None:
    """A rerun with a new learning rate (the pipeline deletes the stage directory) does not tokenize again."""
    data = tmp_path / "cpt.txt"
    data.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    cfg = CptSettings(data=[str(data)], block_size=32, finetune="full", max_steps=1, save_steps=100, logging_steps=1)
    first = cpt.run(StageContext(cfg, [data], ["h"], tiny_model_dir, ModelSettings(), tmp_path / "run1" / "cpt"))
    (packed,) = (qilin_cache / "cpt").glob("blocks-*.bin")
    assert "source_loss" not in first  # one source: nothing extra
    history = (tmp_path / "run1" / "cpt" / "log_history.json").read_text()
    assert "loss/" not in history

    def no_packing(*args: object) -> None:
        raise AssertionError("the corpus was tokenized again")

    monkeypatch.setattr(cpt, "_pack_corpus", no_packing)
    cfg.learning_rate = 1e-3
    second = cpt.run(StageContext(cfg, [data], ["h"], tiny_model_dir, ModelSettings(), tmp_path / "run2" / "cpt"))
    assert second["blocks"] == first["blocks"] and second["tokens"] == first["tokens"]
    assert list((qilin_cache / "cpt").glob("blocks-*.bin")) == [packed]
    with pytest.raises(AssertionError, match="tokenized again"):  # other content or block size: another key
        cpt.build_packed_corpus([data], ["other"], load_tokenizer(tiny_model_dir, ModelSettings()), 32)


def test_concurrent_writers_build_once_and_crashed_leftovers_go(tokenizer, tmp_path: Path, monkeypatch) -> None:
    paths = _two_sources(tmp_path, n=200)
    key = cpt.blocks_cache_key(paths, ["a", "b"], tokenizer, 32)
    cache = tmp_path / "cache"
    cache.mkdir()
    leftover = cache / f"blocks-{key}.bin.tmp-999-deadbeef"  # a writer killed half way
    leftover.write_bytes(b"\x01" * 1000)
    builds = []
    real_pack = cpt._pack_corpus

    def slow_pack(*args: object) -> None:
        builds.append(threading.current_thread().name)
        time.sleep(0.5)  # long enough that the second run arrives while the first one holds the lock
        real_pack(*args)

    monkeypatch.setattr(cpt, "_pack_corpus", slow_pack)
    results = {}

    def build(name: str) -> None:
        results[name] = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 32, cache)

    threads = [threading.Thread(target=build, args=(f"run{i}",), name=f"run{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    np.testing.assert_array_equal(results["run0"].data, results["run1"].data)
    assert not leftover.exists()
    assert sorted(p.name for p in cache.iterdir()) == [f"blocks-{key}.{ext}" for ext in ("bin", "bin.lock", "json")]


def test_only_the_main_process_packs_the_others_wait(tokenizer, tmp_path: Path, monkeypatch) -> None:
    """Stand-in for a launched run: the test's main thread plays the main process, a second thread another rank."""

    class FakeState:
        @property
        def is_local_main_process(self) -> bool:
            return threading.current_thread() is threading.main_thread()

    monkeypatch.setattr(cpt, "PartialState", FakeState)
    monkeypatch.setattr(packed_cache, "_WAIT_POLL_SECONDS", 0.05)
    paths = _two_sources(tmp_path, n=200)
    other_rank = {}
    waiter = threading.Thread(
        target=lambda: other_rank.update(data=cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 32, tmp_path))
    )
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and not list(tmp_path.glob("*.bin"))  # waiting, not packing
    main = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 32, tmp_path)
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    np.testing.assert_array_equal(other_rank["data"].data, main.data)


def test_a_dying_worker_raises_instead_of_hanging(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A script without the `__main__` guard kills every spawned worker; the run must stop with a hint."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from qilin.config import ModelSettings\n"
        "from qilin.data.text.tokenize_corpus import CorpusTokenizer\n"
        "from qilin.models.loading import load_tokenizer\n"
        f"tokenizer = load_tokenizer({str(tiny_model_dir)!r}, ModelSettings())\n"
        "with CorpusTokenizer(tokenizer, 2) as tokenize:\n"
        "    list(tokenize(['高血压'] * 2000))\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "a tokenizing worker process died" in done.stderr and "__main__" in done.stderr


def test_a_script_without_a_main_guard_stops_with_a_hint_instead_of_deadlocking(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Through `cpt.run`, as a user's script calls it: the worker re-running the script used to wait forever for
    the cache lock its parent held; now it fails at once and the parent says why."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines(200)) + "\n", encoding="utf-8")
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from pathlib import Path\n"
        "from qilin.config import CptSettings, ModelSettings\n"
        "from qilin.stages import cpt\n"
        "from qilin.stages.protocol import StageContext\n"
        f"cfg = CptSettings(data=[{str(corpus)!r}], block_size=32, max_steps=1, tokenize_processes=2)\n"
        f"cpt.run(StageContext(cfg, [Path({str(corpus)!r})], ['x'], Path({str(tiny_model_dir)!r}), ModelSettings(), "
        f"Path({str(tmp_path / 'out')!r})))\n",
        encoding="utf-8",
    )
    env = {**os.environ, "QILIN_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode != 0
    assert "a tokenizing worker process died" in done.stderr and "__main__" in done.stderr


def test_a_damaged_cache_is_packed_again_and_said(
    tiny_model_dir: Path, qilin_cache: Path, tmp_path: Path, capsys
) -> None:
    """A cache file cut to half its size used to be trained on silently (333 of 666 blocks); now it is rebuilt."""
    data = tmp_path / "cpt.txt"
    data.write_text("\n".join(corpus_lines(400)) + "\n", encoding="utf-8")
    cfg = CptSettings(data=[str(data)], block_size=32, finetune="full", max_steps=1, save_steps=100, logging_steps=1)
    first = cpt.run(StageContext(cfg, [data], ["h"], tiny_model_dir, ModelSettings(), tmp_path / "run1" / "cpt"))
    (packed,) = (qilin_cache / "cpt").glob("blocks-*.bin")
    whole = packed.read_bytes()
    packed.write_bytes(whole[: len(whole) // 2])
    capsys.readouterr()
    second = cpt.run(StageContext(cfg, [data], ["h"], tiny_model_dir, ModelSettings(), tmp_path / "run2" / "cpt"))
    assert second["blocks"] == first["blocks"] > 50 and second["tokens"] == first["tokens"]
    assert packed.read_bytes() == whole
    warning = capsys.readouterr().err
    assert f"cache file {packed} is damaged" in warning and f"{len(whole) // 2} bytes" in warning


@pytest.mark.parametrize("damage", ["flip", "metadata", "block_size"])
def test_the_cache_is_checked_against_its_metadata(tokenizer, tmp_path: Path, damage: str) -> None:
    paths = _two_sources(tmp_path, n=200)
    expected = np.array(cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 32, tmp_path / "cache").data)
    (packed,) = (tmp_path / "cache").glob("*.bin")
    assert check_packed(packed, 32) is None
    if damage == "flip":  # same size, one byte changed: only the checksum sees it
        data = bytearray(packed.read_bytes())
        data[len(data) // 2] ^= 1
        packed.write_bytes(bytes(data))
        assert check_packed(packed, 32) == "its contents do not match the checksum in its metadata"
    elif damage == "metadata":
        packed.with_suffix(".json").write_text("{", encoding="utf-8")
        assert "metadata" in check_packed(packed, 32)
    else:
        assert check_packed(packed, 64) == "its blocks hold 32 tokens, not 64"
        return
    rebuilt = cpt.build_packed_corpus(paths, ["a", "b"], tokenizer, 32, tmp_path / "cache")
    assert check_packed(packed, 32) is None
    np.testing.assert_array_equal(rebuilt.data, expected)
