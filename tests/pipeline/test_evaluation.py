"""The recipe's evaluation hook: every entry of eval.benchmarks scored at a stage, its outcomes kept for the
report, and an evaluation that replaces the stage's last one whole (a benchmark dropped from the recipe leaves
the table; a stage that runs again loses its old outcomes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qilin.config import ConfigError, Recipe, from_dict
from qilin.pipeline.evaluation import eval_data_hash, evaluate_stage
from qilin.pipeline.manifest import Manifest, outcomes_path
from tests.conftest import DISEASES
from tests.eval.benchmarks.layouts import medmcqa_file, pubmedqa_file


def _exam(path: Path) -> Path:
    """A CMExam CSV of 6 questions, 2 of them about diseases held out of training."""
    lines = ["Question,Options,Answer,Knowledge"]
    for i, (disease, department, _, _) in enumerate(DISEASES + DISEASES[:1]):
        others = [d[1] for d in DISEASES if d[1] != department][:3]
        options = "\\n".join(f"{k} {v}" for k, v in zip("ABCD", [department, *others], strict=True))
        lines.append(f'"{disease}{i}看哪个科","{options}",A,{"held-out" if i < 2 else "seen"}')
    path.write_text("\n".join(lines).replace("\\n", "\n") + "\n", encoding="utf-8")
    return path


def _recipe(benchmarks: list[dict], **eval_keys: object) -> Recipe:
    return from_dict(Recipe, {"eval": {"benchmarks": benchmarks, "batch_size": 4, **eval_keys}})


def test_benchmarks_are_scored_and_their_outcomes_written_beside_the_manifest(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    files = {"medmcqa": medmcqa_file(tmp_path / "dev.json"), "pubmedqa": pubmedqa_file(tmp_path / "ori_pqal.json")}
    recipe = _recipe([{"benchmark": "mcq", "path": str(f)} for f in files.values()])
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    evaluate_stage("base", tiny_model_dir, recipe, run_dir, manifest)
    evaluation = manifest.stage("base")["evaluation"]
    outcomes = json.loads(outcomes_path(run_dir, "base").read_text())
    assert set(outcomes) == {"medmcqa_acc", "medmcqa_acc_norm", "pubmedqa_acc", "pubmedqa_acc_norm"}
    for key, n in (("medmcqa_acc", 3), ("pubmedqa_acc", 2)):
        correct = outcomes[key]["correct"]
        assert len(correct) == n == evaluation[key]["n"]
        assert evaluation[key]["value"] == round(100 * correct.count("1") / n, 2)  # the accuracy is these answers'
        assert evaluation[key]["label"] == f"{key[:-4]} acc (%)" and evaluation[key]["column"]
        assert not evaluation[f"{key}_norm"]["column"]  # acc_norm only with detail: true
    assert "metrics" not in manifest.stage("base")  # training figures and evaluation never mix


def test_a_benchmark_dropped_from_the_recipe_leaves_the_stage_record(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Issue: `medqa` stayed in the table after it was dropped, and a stale RAG accuracy took the new n."""
    exam, corpus = _exam(tmp_path / "exam.csv"), tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}挂{dep}。常见{s}，常用{m}。\n" for d, dep, s, m in DISEASES), encoding="utf-8")
    medmcqa = medmcqa_file(tmp_path / "dev.json")
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    first = [
        {"benchmark": "mcq", "path": str(exam), "limit": 4, "detail": True},
        {"benchmark": "mcq", "path": str(exam), "limit": 4, "rag": True},
        {"benchmark": "mcq", "path": str(medmcqa)},
    ]
    evaluate_stage("base", tiny_model_dir, _recipe(first, rag=[str(corpus)]), run_dir, manifest)
    evaluation = manifest.stage("base")["evaluation"]
    assert {"cmexam_acc", "cmexam_held_out", "cmexam_seen", "cmexam_rag_acc", "medmcqa_acc"} <= set(evaluation)
    assert evaluation["cmexam_rag_acc"]["n"] == 4

    second = [{"benchmark": "mcq", "path": str(exam), "limit": 6, "detail": True}]
    evaluate_stage("base", tiny_model_dir, _recipe(second, rag=[str(corpus)]), run_dir, manifest)
    evaluation = manifest.stage("base")["evaluation"]
    assert sorted(evaluation) == ["cmexam_acc", "cmexam_acc_norm", "cmexam_held_out", "cmexam_seen"]
    assert evaluation["cmexam_acc"]["n"] == 6 and evaluation["cmexam_held_out"]["n"] == 2
    assert set(json.loads(outcomes_path(run_dir, "base").read_text())) == set(evaluation)

    evaluate_stage("base", tiny_model_dir, _recipe([]), run_dir, manifest)  # the recipe evaluates nothing now
    assert manifest.stage("base")["evaluation"] == {} and not outcomes_path(run_dir, "base").exists()


def test_a_stage_that_runs_again_loses_its_outcomes(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path, "t")
    manifest.update("sft", status="complete", evaluation={"cmexam_acc": {"value": 1.0}})
    outcomes_path(tmp_path, "sft").parent.mkdir()
    outcomes_path(tmp_path, "sft").write_text('{"cmexam_acc": {"questions": "q", "correct": "1"}}')
    manifest.forget("sft")
    assert manifest.stage("sft") == {} and not outcomes_path(tmp_path, "sft").exists()


def test_entries_are_checked_by_their_benchmark(tmp_path: Path) -> None:
    exam = str(_exam(tmp_path / "exam.csv"))
    with pytest.raises(ConfigError, match=r"unknown benchmark 'mcqq'; registered: mcq, qa, safety, (.+, )?vqa"):
        evaluate_stage(
            "base", tmp_path, _recipe([{"benchmark": "mcqq", "path": exam}]), tmp_path, Manifest(tmp_path, "t")
        )
    with pytest.raises(ConfigError, match=r"eval.benchmarks\[0\].rag: benchmark 'qa' takes only"):
        evaluate_stage("base", tmp_path, _recipe([{"benchmark": "qa", "path": exam, "rag": True}]), tmp_path, None)
    with pytest.raises(ConfigError, match=r"unknown key 'paht' in 'eval.benchmarks\[0\]'"):
        _recipe([{"benchmark": "mcq", "paht": exam}])
    twice = [{"benchmark": "mcq", "path": exam}, {"benchmark": "mcq", "path": exam}]
    with pytest.raises(ConfigError, match=r"entries 0 and 1 both have the name 'cmexam'"):
        evaluate_stage("base", tmp_path, _recipe(twice), tmp_path, Manifest(tmp_path, "t"))


def test_a_rag_index_in_another_run_directory_needs_no_new_evaluation(tmp_path: Path) -> None:
    """Passages name their source file (in the run directory); only their texts decide what is retrieved."""

    def index(run: str, texts: list[str]) -> Path:
        path = tmp_path / run / "rag" / "index"
        path.mkdir(parents=True)
        rows = [{"text": t, "source": f"runs/{run}/data/chimed_cpt.jsonl", "doc": i} for i, t in enumerate(texts, 1)]
        (path / "passages.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return path

    demo, variant = (
        index("demo", ["高血压挂心内科。", "糖尿病挂内分泌科。"]),
        index("demo-ablate", ["高血压挂心内科。", "糖尿病挂内分泌科。"]),
    )
    other = index("other", ["高血压挂心内科。", "糖尿病挂消化内科。"])
    assert (demo / "passages.jsonl").read_bytes() != (variant / "passages.jsonl").read_bytes()
    assert eval_data_hash(demo, is_index=True) == eval_data_hash(variant, is_index=True)
    assert eval_data_hash(demo, is_index=True) != eval_data_hash(other, is_index=True)


def test_an_exam_scored_by_generation_agrees_with_the_eval_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`mode: generate` answers each exam turn in the chat template and reads the reply as `qilin eval mcq
    --mode generate` does: the same questions right, and the replies no answer came from counted apart."""
    from qilin.config import ModelSettings
    from qilin.eval.multiple_choice import extract_answer, generate_exam_replies, read_cmexam
    from qilin.eval.suite import load_subject

    exam = _exam(tmp_path / "exam.csv")
    recipe = _recipe([{"benchmark": "mcq", "path": str(exam), "mode": "generate", "name": "gen", "detail": True}])
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    evaluate_stage("base", tiny_model_dir, recipe, run_dir, manifest)
    evaluation = manifest.stage("base")["evaluation"]
    assert sorted(evaluation) == ["gen_acc", "gen_held_out", "gen_no_answer", "gen_seen"]  # no acc_norm: no scores
    questions = read_cmexam(exam)
    subject = load_subject(tiny_model_dir, "model", ModelSettings())
    picked = [
        extract_answer(r, q.options)
        for q, r in zip(
            questions, generate_exam_replies(subject.model, subject.tokenizer, questions, [], 4), strict=True
        )
    ]
    outcomes = json.loads(outcomes_path(run_dir, "base").read_text())
    assert outcomes["gen_acc"]["correct"] == "".join(
        "1" if p == q.answer else "0" for p, q in zip(picked, questions, strict=True)
    )
    assert outcomes["gen_no_answer"]["correct"] == "".join("1" if p is None else "0" for p in picked)
    assert evaluation["gen_no_answer"]["lower_is_better"] and not evaluation["gen_no_answer"]["plot"]
    with pytest.raises(ConfigError, match="mode"):
        _recipe([{"benchmark": "mcq", "path": str(exam), "mode": "generation"}])


def test_rag_dense_naming_a_stage_encodes_with_its_model_once_it_exists(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    exam, corpus = _exam(tmp_path / "exam.csv"), tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{d}挂{dep}。常见{s}，常用{m}。\n" for d, dep, s, m in DISEASES), encoding="utf-8")
    entries = [{"benchmark": "mcq", "path": str(exam)}, {"benchmark": "mcq", "path": str(exam), "rag": True}]
    recipe = _recipe(entries, rag=[str(corpus)], rag_top_k=2, rag_dense="sft")
    recipe.stages.sft = from_dict(Recipe, {"stages": {"sft": {"data": [str(corpus)]}}}).stages.sft
    run_dir = tmp_path / "run"
    manifest = Manifest(run_dir, "t")
    shutil.copytree(tiny_model_dir, run_dir / "sft" / "model")  # as an earlier run leaves it
    evaluate_stage("base", tiny_model_dir, recipe, run_dir, manifest)  # before SFT: no encoder yet, BM25 only
    assert "cmexam_rag_recall_2" in manifest.stage("base")["evaluation"]
    assert "cmexam_rag_recall_dense_2" not in manifest.stage("base")["evaluation"]
    without = _recipe(entries, rag=[str(corpus)], rag_top_k=2)  # the base model's evaluation does not depend on it
    without.stages.sft = recipe.stages.sft
    before = manifest.stage("base")["eval_fingerprint"]
    evaluate_stage("base", tiny_model_dir, without, run_dir, manifest)
    assert manifest.stage("base")["eval_fingerprint"] == before
    evaluate_stage("sft", run_dir / "sft" / "model", recipe, run_dir, manifest)
    evaluation = manifest.stage("sft")["evaluation"]
    assert evaluation["cmexam_rag_recall_dense_1"]["n"] == 6 and "cmexam_rag_recall_dense_2" in evaluation
    assert json.loads((run_dir / "rag" / "dense" / "index.json").read_text())["kind"] == "dense"
    recipe.eval.rag_dense = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"eval\.rag_dense: .*nowhere.* neither a stage of this recipe \(sft\)"):
        evaluate_stage("sft", run_dir / "sft" / "model", recipe, run_dir, manifest)


def test_retrained_judge_weights_are_a_new_safety_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qilin.eval.safety import classifier
    from qilin.pipeline.evaluation import _fingerprint, stage_tasks

    weights = tmp_path / "judge.npz"
    monkeypatch.setattr(classifier, "WEIGHTS", weights)
    safety = [{"benchmark": "safety", "path": "embedded", "limit": 4}]
    by_rules_entry = [{**safety[0], "judge": "rules"}]

    def fingerprint(recipe: Recipe) -> str:
        return _fingerprint(recipe, stage_tasks("sft", recipe, tmp_path), "m" * 64)

    weights.write_bytes(b"first weights")
    by_classifier, by_rules = fingerprint(_recipe(safety)), fingerprint(_recipe(by_rules_entry))
    weights.write_bytes(b"retrained weights")
    assert fingerprint(_recipe(safety)) != by_classifier  # the shipped judge changed: measure again
    assert fingerprint(_recipe(by_rules_entry)) == by_rules  # the rules judge never reads the weights
    exam = [{"benchmark": "mcq", "path": str(_exam(tmp_path / "exam.csv"))}]
    before = fingerprint(_recipe(exam))
    weights.write_bytes(b"weights again")
    assert fingerprint(_recipe(exam)) == before  # no safety entry: nothing the weights read


def test_changed_judge_rules_are_a_new_safety_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qilin.eval.safety import forms
    from qilin.pipeline.evaluation import _fingerprint, stage_tasks

    safety = [{"benchmark": "safety", "path": "embedded", "limit": 4}]
    by_rules_entry = [{**safety[0], "judge": "rules"}]
    exam = [{"benchmark": "mcq", "path": str(_exam(tmp_path / "exam.csv"))}]

    def fingerprints() -> list[str]:
        return [
            _fingerprint(_recipe(e), stage_tasks("sft", _recipe(e), tmp_path), "m" * 64)
            for e in (safety, by_rules_entry, exam)
        ]

    before = fingerprints()
    rules = tmp_path / "forms.py"  # a rule module of the judge, edited
    rules.write_text(Path(forms.__file__).read_text() + "\n# a changed rule\n")
    monkeypatch.setattr(forms, "__file__", str(rules))
    after = fingerprints()
    assert after[0] != before[0] and after[1] != before[1]  # both judges read replies through the rules
    assert after[2] == before[2]  # no safety entry
