"""The evaluation suite: registered benchmarks, a benchmark named by its import path, the keys each entry may set,
and the vqa benchmark on a VL model (loaded through the shared VL loader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qilin.config import BenchmarkSettings, ConfigError, EvalSettings, ModelSettings
from qilin.eval.suite import BUILT_IN, Benchmark, Task, check_entry, get_benchmark, score_tasks
from qilin.eval.suite.mcq import MCQ
from qilin.eval.vqa import evaluate_vqa, load_questions
from qilin.models.vision import load_vl_model
from tests.vl_files import Scans, pmcvqa_csv, scan_set


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return scan_set(tmp_path_factory.mktemp("scans"), 8, seed=11)


def test_built_in_benchmarks_are_registered_and_one_can_be_named_by_its_import_path() -> None:
    assert [get_benchmark(b.name) for b in BUILT_IN] == list(BUILT_IN)
    assert get_benchmark("qilin.eval.suite.mcq:MCQ") is MCQ
    with pytest.raises(ConfigError, match=r"cannot import 'qilin\.nowhere:X'"):
        get_benchmark("qilin.nowhere:X")
    with pytest.raises(ConfigError, match="is a function, not a Benchmark"):
        get_benchmark("qilin.eval.suite.mcq:score_mcq")


def test_an_entry_may_set_only_the_keys_its_benchmark_takes() -> None:
    assert check_entry(0, BenchmarkSettings(benchmark="mcq", path="x.csv", rag=True, detail=True)) is MCQ
    with pytest.raises(ConfigError, match=r"eval.benchmarks\[2\].images: benchmark 'mcq' takes only"):
        check_entry(2, BenchmarkSettings(benchmark="mcq", path="x.csv", images="img"))
    with pytest.raises(ConfigError, match=r"eval.benchmarks\[0\]: benchmark 'qa' needs a path"):
        check_entry(0, BenchmarkSettings(benchmark="qa"))
    check_entry(0, BenchmarkSettings(benchmark="safety"))  # the bundled prompts by default


def test_default_names_follow_the_layout_and_the_rag_variant(tmp_path: Path) -> None:
    csv = tmp_path / "exam.csv"
    csv.write_text("Question,Options,Answer\n问,A 甲\nB 乙,A\n", encoding="utf-8")
    assert MCQ.name_of(BenchmarkSettings(benchmark="mcq"), csv) == "cmexam"
    assert MCQ.name_of(BenchmarkSettings(benchmark="mcq", rag=True), csv) == "cmexam_rag"
    assert MCQ.name_of(BenchmarkSettings(benchmark="mcq", format="medqa"), csv) == "medqa"
    assert MCQ.name_of(BenchmarkSettings(benchmark="mcq", name="general"), csv) == "general"
    assert isinstance(get_benchmark("vqa"), Benchmark) and get_benchmark("vqa").needs == "vl_model"


def test_a_vl_model_gets_the_vqa_metrics_of_its_capped_question_subset(
    tiny_vl_dir: Path, scans, tmp_path: Path
) -> None:
    out, _ = scans
    data = pmcvqa_csv(scans, tmp_path / "test.csv", 8)
    entry = BenchmarkSettings(benchmark="vqa", path=str(data), images=str(out), limit=5)
    task = Task(entry, "vqa", data, EvalSettings(batch_size=4))
    result = score_tasks(tiny_vl_dir, [(get_benchmark("vqa"), task)], ModelSettings())["vqa"]
    # the same figures as evaluating the same 5 questions by hand
    model, tokenizer, processor = load_vl_model(tiny_vl_dir)
    by_hand = evaluate_vqa(model, tokenizer, processor, load_questions(data, out, 5), batch_size=4)
    assert {k: (m.value, m.n) for k, m in result.metrics.items()} == {
        "vqa_acc": (by_hand["loglik"]["all"]["accuracy"], 5),
        "vqa_generate": (by_hand["generate"]["all"]["accuracy"], 5),
        "vqa_modality": (by_hand["loglik"]["Type=modality"]["accuracy"], by_hand["loglik"]["Type=modality"]["n"]),
        "vqa_open_recall": (by_hand["open_recall"], None),
    }
    assert result.metrics["vqa_acc"].outcomes == "".join("1" if c else "0" for c in by_hand["correct"]["loglik"])


def test_models_scored_or_served_go_to_the_gpu_when_there_is_one(
    tiny_model_dir: Path, tiny_vl_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading leaves weights on the CPU: evaluation and serving move them to CUDA when it is available (here the
    move is recorded, not made), in eval mode, for text and VL models alike."""
    import torch

    from qilin.eval.suite.scoring import load_subject

    moved: list[str] = []

    def record_to(module: torch.nn.Module, device: str) -> torch.nn.Module:
        moved.append(f"{type(module).__name__}->{device}")
        return module

    monkeypatch.setattr(torch.nn.Module, "to", record_to)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = load_subject(tiny_model_dir, "model", ModelSettings(path=str(tiny_model_dir), dtype="float32"))
    assert moved == [] and not cpu.model.training
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    text = load_subject(tiny_model_dir, "model", ModelSettings(path=str(tiny_model_dir), dtype="float32"))
    vl = load_subject(tiny_vl_dir, "vl_model", ModelSettings(path=str(tiny_vl_dir), dtype="float32"))
    assert moved == ["LlamaForCausalLM->cuda", f"{type(vl.model).__name__}->cuda"]
    assert not text.model.training and not vl.model.training and vl.processor is not None
