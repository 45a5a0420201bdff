"""The `embedded:` resolver: a data entry 'embedded:PART' names a file of the bundled miniature world.

    embedded_part("cpt", run_dir)            # run_dir/data/chimed_cpt.jsonl (the miniature ChiMed)
    embedded_part("general-exam", run_dir)   # run_dir/data-general/general_exam.csv
    embedded_part("vl-train", run_dir)       # run_dir/data-vl/train/vqa_train.json (synthetic scans)
    embedded_part("problems", run_dir)       # run_dir/data-problems/problems.jsonl (GRPO's problems)
    embedded_part("problems-sft", run_dir)   # run_dir/data-problems/exam_format_sft.jsonl (exam-format SFT)

Each part's files are built on first use into the run directory and reused while their inputs are unchanged.
"""

from __future__ import annotations

from pathlib import Path

from qilin.config import EmbeddedVisionSettings
from qilin.embedded.chimed import EMBEDDED_PARTS, build_embedded
from qilin.embedded.general import GENERAL_PARTS, build_embedded_general
from qilin.embedded.vl_data import PARTS as VL_PARTS
from qilin.embedded.vl_data import build_embedded_vl

EMBEDDED_PREFIX = "embedded:"
PROBLEMS = "problems"  # GRPO's verifiable problems, from the bundled knowledge of the diseases the demo trains on
PROBLEMS_SFT = "problems-sft"  # a disjoint few of them as SFT conversations in the exam's answer format
PROBLEM_PARTS = (PROBLEMS, PROBLEMS_SFT)
PART_NAMES = (*EMBEDDED_PARTS, *PROBLEM_PARTS, *GENERAL_PARTS, *VL_PARTS)


def is_embedded(entry: str) -> bool:
    """Whether a data entry names a bundled part ('embedded:PART') rather than a file."""
    return entry.startswith(EMBEDDED_PREFIX)


def embedded_part(part: str, run_dir: Path, vision: EmbeddedVisionSettings | None = None) -> Path:
    """The file of bundled part `part` (built into `run_dir` on first use); `vision` shapes the synthetic scans."""
    if part in GENERAL_PARTS:
        return build_embedded_general(run_dir / "data-general")[part]
    if part in VL_PARTS:
        return build_embedded_vl(run_dir / "data-vl", vision or EmbeddedVisionSettings())[part]
    if part in EMBEDDED_PARTS:
        return build_embedded(run_dir / "data")[part]
    if part in PROBLEM_PARTS:
        from qilin.rl.problem_builder import build_embedded_problems

        data = build_embedded(run_dir / "data")
        return build_embedded_problems(run_dir / "data", data, run_dir / "data-problems")[part]
    raise ValueError(f"data entry {EMBEDDED_PREFIX + part!r}: the embedded data has parts {', '.join(PART_NAMES)}")
