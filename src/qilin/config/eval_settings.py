"""The recipe's `eval` section: the benchmarks scored after every stage and the gates each stage must pass.

eval:
  benchmarks:
    - {benchmark: mcq, path: embedded:cmexam, limit: 400, detail: true}
    - {benchmark: mcq, path: embedded:cmexam, rag: true}
    - {benchmark: mcq, path: data/MedQA/test.jsonl, format: medqa}
    - {benchmark: qa, path: embedded:huatuo, limit: 100}
  gates:
    - {stage: sft, metric: cmexam_acc, test: gain}
    - {stage: dpo, metric: general_acc, test: non_inferior, margin: 3}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qilin.config.fields import help_field as _help


@dataclass
class BenchmarkSettings:
    """One benchmark scored on the base model and after every stage (one entry of `eval.benchmarks`).

    Each key below is taken only by the benchmarks that use it; an entry naming a key its benchmark does not
    take is an error (`qilin.eval.suite.check_benchmarks`).
    """

    benchmark: str = _help(
        "Which benchmark: 'mcq' (multiple choice in any published layout, CMExam included), 'qa' (open QA scored "
        "with BLEU/ROUGE), 'safety' (unsafe compliance and over-refusal), 'vqa' (PMC-VQA, VL stages), or a "
        "benchmark of your own as 'package.module:OBJECT' (see docs/evaluation.md).",
        "",
    )
    path: str | None = _help(
        "Data file or 'embedded:PART' (embedded:cmexam, embedded:general-exam, embedded:huatuo, "
        "embedded:vqa-test); safety: 'embedded' (the 208 bundled prompts) or a JSONL/JSON/CSV file.",
        None,
    )
    name: str | None = _help(
        "Prefix of this entry's metric keys and columns (cmexam -> cmexam_acc); default: mcq the detected layout "
        "(with '_rag' when rag is set), otherwise the benchmark's name. Two entries may not share one.",
        None,
    )
    limit: int = _help("Score a fixed seeded subset of this many items; 0 scores all.", 0)
    format: str = _help(
        "mcq: the layout, 'auto' (detected as `qilin eval mcq` does) or cmexam, cmb, medqa, cmmlu, medmcqa, "
        "medmcqa-hf, medmcqa-orig, pubmedqa, generic.",
        "auto",
    )
    fields: str | None = _help(
        "mcq generic layout: question=F,options=F,answer=F,groups=F1+F2,id=F; safety: prompt=F,label=F,...", None
    )
    answers: str | None = _help(
        "mcq: answers published apart from the questions, joined by id (CMB's CMB-test-choice-answer.json).", None
    )
    rag: bool = _help(
        "mcq: put the top eval.rag_top_k passages of the eval.rag index in front of each question.", False
    )
    detail: bool = _help(
        "mcq: show acc_norm and the held-out / seen / multi-answer slices as columns (always in report.json).", False
    )
    loss: bool = _help(
        "mcq: also the loss (nats/token) on the questions' Explanation texts, '<name>_loss' (the forgetting check).",
        False,
    )
    mode: Literal["loglik", "generate"] = _help(
        "mcq: 'loglik' (score each option's text by log-likelihood) or 'generate' (the model answers the exam turn "
        "in its chat template, greedy, and the answer is extracted from the reply; adds '<name>_no_answer').",
        "loglik",
    )
    images: str | None = _help("vqa: image folder of the file (default: the file's folder).", None)
    judge: Literal["classifier", "rules"] = _help(
        "safety: the offline judge of each reply, 'classifier' (a linear model over character n-grams and the rules' "
        "cues, trained on the labelled replies) or 'rules' (the rule-based judge); docs/safety-and-privacy.md.",
        "classifier",
    )


@dataclass
class GateSettings:
    """What a stage must show against an earlier model on the same items (one entry of `eval.gates`).

    test 'gain': a significant improvement (exact two-sided McNemar p < alpha, in the metric's good direction);
    test 'non_inferior': not worse by more than `margin` points (the one-sided 1 - alpha lower bound of the paired
    difference, Agresti-Min interval, above -margin). Verdicts: pass, fail, inconclusive (docs/evaluation.md).
    """

    stage: str = _help("The stage that must show it (cpt, sft, dpo, vl_align, vl_instruct).", "")
    metric: str = _help(
        "A proportion metric key of the stage table, e.g. cmexam_acc, general_acc, safety_unsafe_pct.", ""
    )
    test: Literal["gain", "non_inferior"] = _help(
        "'gain': a significant improvement (exact McNemar p < alpha); 'non_inferior': not worse by more than margin "
        "(the paired difference's one-sided 1 - alpha bound above -margin). Verdicts: docs/evaluation.md.",
        "gain",
    )
    alpha: float = _help("Significance level of the test.", 0.05)
    margin: float = _help("non_inferior: the largest loss allowed, in percentage points.", 0.0)
    against: str | None = _help(
        "The model compared with: 'base' or a stage; default the previous stage the recipe runs.", None
    )


@dataclass
class EvalSettings:
    """Evaluation run on the base model and after every stage; results go into the manifest and the report."""

    benchmarks: list[BenchmarkSettings] = _help(
        "The benchmarks scored at every stage, in column order (each key: see BenchmarkSettings).",
        default_factory=list,
    )
    gates: list[GateSettings] = _help(
        "What each stage must show (see GateSettings); `qilin run --gates strict` stops at a failed one.",
        default_factory=list,
    )
    batch_size: int = _help("Sequences per forward pass.", 32)
    max_new_tokens: int = _help("Longest generated answer in tokens (qa, safety).", 128)
    rag: list[str] = _help(
        "Corpus files (or 'embedded:cpt') of the retrieval index the mcq entries with rag: true use: a BM25 index "
        "built over them once per run.",
        default_factory=list,
    )
    rag_top_k: int = _help("Passages put in front of each question of an mcq entry with rag: true.", 3)
    rag_dense: str = _help(
        "Encoder of a dense index over eval.rag's corpus, whose recall@1 and recall@k every mcq entry with rag: true "
        "also records (beside BM25's), so a miss can be put on the retriever or the model: a local Hugging Face "
        "encoder directory, or the name of a stage of this recipe (e.g. 'cpt') whose output encodes from that "
        "stage's evaluation on. The passages put in front of the questions stay BM25's. Empty: no dense recall.",
        "",
    )
    paper_numbers: bool = _help(
        "Show the Qilin-Med paper's numbers beside ours (recipes that mirror the paper).", False
    )
