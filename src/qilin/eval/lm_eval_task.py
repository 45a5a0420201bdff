"""Export a CMExam-format CSV as an lm-evaluation-harness task, so users of that harness can run it too.

The task scores each option's text as a continuation of "{Question}\\n答案：" (output_type
multiple_choice, no space between context and option, as suits Chinese), reporting acc and acc_norm, the
same definitions `qilin eval mcq --mode loglik` uses. One difference: for a question with several
correct answers lm-evaluation-harness counts the top option as correct if it is any of them, while Qilin
requires the exact set.

    lm_eval --model hf --model_args pretrained=MODEL_DIR --include_path DIR --tasks qilin_cmexam

`export_questions_task` exports any layout `qilin eval mcq` reads (task qilin_cmb, qilin_medqa, ...) the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UTILS = '''"""doc_to_* functions of the qilin_cmexam task (written by `qilin eval mcq --export-lm-eval`)."""


def _options(doc):
    pairs = []
    for line in doc["Options"].splitlines():
        letter, _, text = line.strip().partition(" ")
        if text.strip():
            pairs.append((letter.upper(), text.strip()))
    return pairs


def doc_to_text(doc):
    return doc["Question"].strip() + "\\n答案："


def doc_to_choice(doc):
    return [text for _, text in _options(doc)]


def doc_to_target(doc):
    letters = [letter for letter, _ in _options(doc)]
    gold = [letters.index(c) for c in doc["Answer"].upper() if c in letters]
    return gold[0] if len(gold) == 1 else gold
'''

# Both task templates score the same way: acc and acc_norm, as lm-evaluation-harness's multiple-choice tasks.
METRICS = """metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

TASK = (
    """task: {name}
dataset_path: csv
dataset_kwargs:
  data_files:
    test: {csv}
test_split: test
output_type: multiple_choice
doc_to_text: !function utils.doc_to_text
doc_to_choice: !function utils.doc_to_choice
doc_to_target: !function utils.doc_to_target
target_delimiter: ""
"""
    + METRICS
)


def export_task(csv_path: str | Path, out_dir: str | Path, name: str = "qilin_cmexam") -> Path:
    """Write `<out_dir>/<name>.yaml` and its `utils.py`; returns the task directory (lm_eval --include_path)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "utils.py").write_text(UTILS, encoding="utf-8")
    (out / f"{name}.yaml").write_text(TASK.format(name=name, csv=Path(csv_path).resolve()), encoding="utf-8")
    return out


# Every other layout is exported as the questions Qilin read, one JSON line each, so one task template serves
# all of them: the context Qilin scores after (stripped), the options with the whitespace it moved onto them,
# and the gold indices (a list: lm-evaluation-harness then counts the top option right if it is any of them).
QUESTIONS_TASK = (
    """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {jsonl}
test_split: test
output_type: multiple_choice
doc_to_text: context
doc_to_choice: choices
doc_to_target: gold
target_delimiter: ""
"""
    + METRICS
)


def export_questions_task(questions: list[Any], out_dir: str | Path, name: str) -> Path:
    """Write `<out_dir>/<name>.jsonl` (the questions as scored) and `<name>.yaml`; returns the task directory."""
    from qilin.durable import write_atomic
    from qilin.eval.multiple_choice import cloze_context

    out = Path(out_dir)
    lines = []
    for q in questions:
        context = cloze_context(q)
        moved = context[len(context.rstrip()) :]
        letters = list(q.options)
        doc = {
            "id": q.id,
            "context": context.rstrip(),
            "choices": [moved + text for text in q.options.values()],
            "gold": sorted(letters.index(c) for c in q.answer),
        }
        lines.append(json.dumps(doc, ensure_ascii=False) + "\n")
    write_atomic(out / f"{name}.jsonl", "".join(lines))
    write_atomic(out / f"{name}.yaml", QUESTIONS_TASK.format(name=name, jsonl=(out / f"{name}.jsonl").resolve()))
    return out


def export_benchmark_task(path: str | Path, fmt: str, questions: list[Any], out_dir: str | Path) -> tuple[Path, str]:
    """(task directory, task name) of a benchmark file for lm-evaluation-harness: a CMExam CSV as the `qilin_cmexam`
    task over the CSV itself, any other layout as its questions as read (`qilin_<format>`)."""
    if fmt == "cmexam":
        return export_task(path, out_dir), "qilin_cmexam"
    return export_questions_task(questions, out_dir, f"qilin_{fmt}"), f"qilin_{fmt}"
