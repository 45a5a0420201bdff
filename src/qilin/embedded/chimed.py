"""The bundled miniature ChiMed: the ChiMed builder run once on the bundled knowledge base, reused while unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

from qilin.chimed.build import BUILDER_VERSION, build_chimed
from qilin.chimed.knowledge import bundled_kb_path, load_kb
from qilin.durable import write_atomic
from qilin.log import get_logger

log = get_logger(__name__)


EMBEDDED_PARTS = {
    "cpt": "chimed_cpt.jsonl",
    "sft": "chimed_sft.jsonl",
    "dpo": "chimed_dpo.jsonl",
    "cmexam": "cmexam_test.csv",
    "cmexam-dev": "cmexam_dev.csv",
    "huatuo": "huatuo_test.jsonl",
    "index-only": "index_only.jsonl",  # facts only a retrieval index holds (qilin.chimed.index_only)
    "cmexam-index-only": "cmexam_index_only.csv",  # the exam slice about them: chance without retrieval
    "reading": "reading.jsonl",  # other invented facts, for the SFT training index only (qilin.chimed.reading)
    "reading-sft": "reading_sft.jsonl",  # questions about them: stages.sft.rag.reading
}


def build_embedded(out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """The bundled miniature ChiMed, built once into `out_dir` and reused while the KB and seed are unchanged."""
    stamp = hashlib.sha256(bundled_kb_path().read_bytes()).hexdigest()[:16] + f"-{seed}-{BUILDER_VERSION}"
    stamp_file = out_dir / "embedded.stamp"
    paths = {part: out_dir / name for part, name in EMBEDDED_PARTS.items()}
    if not (stamp_file.exists() and stamp_file.read_text() == stamp and all(p.exists() for p in paths.values())):
        report = build_chimed(load_kb(), out_dir, seed=seed)
        log.info(report["filter_summary"])
        write_atomic(stamp_file, stamp)
    return paths
