"""Medical multiple-choice benchmarks in their published layouts, read into CMExam's `ExamQuestion` so that one
scorer (`qilin.eval.multiple_choice`) serves them all.

    fmt, questions = read_benchmark("MedQA/questions/US/test.jsonl")   # layout detected: "medqa"

One small reader per layout: `chinese` (CMB-Exam, CMMLU), `medqa`, `medmcqa`, `pubmedqa`, `generic`
(`--fields`); `detect` picks one.
"""

from qilin.eval.benchmarks.detect import FORMATS, detect_format, read_benchmark
from qilin.eval.benchmarks.generic import parse_fields

__all__ = ["FORMATS", "detect_format", "parse_fields", "read_benchmark"]
