"""CPT preprocessing: tokenize + pack a corpus of tens of MB with 1 process and with N, side by side in one run.

    .venv/bin/python benchmarks/cpt_preprocessing.py [--model runs/demo/base/model] [--copies 20] [--processes N]

The corpus is the bundled miniature ChiMed's CPT text repeated `copies` times as two sources (files), each copy
with the sentences of every document shuffled: no two documents repeat, so no tokenizer word cache flatters the
figures. Each build runs into its own empty cache directory and is timed end to end as `qilin` runs it (the data
check, tokenizing, packing, writing); the data check, which reads the corpus once in the main process, is also
timed alone. Prints tokens per second of each build (1 process with the tokenizers library's threads, as by
default; 1 process and 1 thread; N worker processes), the speed ratios, whether the packed bytes are identical,
and the time of a cache hit (a second build with the same key).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from qilin.config import ModelSettings
from qilin.data.text.formats import check_file
from qilin.data.text.tokenize_corpus import default_processes
from qilin.pipeline.runner import file_sha256


def make_corpus(out_dir: Path, copies: int) -> list[Path]:
    """Two JSONL sources (medical, general) of `copies` varied copies of the bundled CPT text, split evenly."""
    from qilin.embedded.chimed import build_embedded

    docs = [json.loads(line)["text"] for line in build_embedded(out_dir / "chimed")["cpt"].open(encoding="utf-8")]
    rng = random.Random(0)
    paths = [out_dir / "medical.jsonl", out_dir / "general.jsonl"]
    files = [p.open("w", encoding="utf-8") for p in paths]
    for copy in range(copies):
        for doc in docs:
            sentences = [s for s in doc.split("。") if s]
            rng.shuffle(sentences)
            text = "。".join(sentences) + "。"
            files[copy % 2].write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    for f in files:
        f.close()
    return paths


def load_tokenizer_for(model_dir: Path | None, corpus: list[Path], work: Path):
    """The tokenizer of the given model, of the demo's base model if present, else of a tiny one built here."""
    from qilin.models.loading import load_tokenizer

    if model_dir is None and Path("runs/demo/base/model/config.json").exists():
        model_dir = Path("runs/demo/base/model")
    if model_dir is None:
        from qilin.config import EmbeddedModelSettings
        from qilin.embedded.model import build_embedded_model

        texts = [json.loads(line)["text"] for line in corpus[0].open(encoding="utf-8")][:20_000]
        model_dir = build_embedded_model(EmbeddedModelSettings(), texts, work / "tiny")
    print(f"tokenizer: {model_dir}")
    return load_tokenizer(model_dir, ModelSettings())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="HF model directory whose tokenizer to use")
    parser.add_argument("--copies", type=int, default=20, help="copies of the bundled CPT text (~1.2 MB each)")
    parser.add_argument("--processes", type=int, default=default_processes(), help="workers of the parallel run")
    parser.add_argument("--block-size", type=int, default=1024)
    args = parser.parse_args()

    from qilin.stages.cpt import build_packed_corpus

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = make_corpus(work, args.copies)
        fingerprints = [file_sha256(p) for p in corpus]
        tokenizer = load_tokenizer_for(args.model, corpus, work)
        megabytes = sum(p.stat().st_size for p in corpus) / 1e6

        start = time.perf_counter()
        for path in corpus:
            check_file(path, "cpt")
        check_s = time.perf_counter() - start

        rows, packed = [], []
        runs = [("1", 1, "true"), ("1, 1 thread", 1, "false"), (str(args.processes), args.processes, "true")]
        for label, processes, threads in runs:
            # the tokenizers library's own threads (on by default) already spread one process's batches over
            # the CPUs; the 1-thread row is one CPU's rate, the baseline of the workers' speed-up
            os.environ["TOKENIZERS_PARALLELISM"] = threads
            cache = work / f"cache-{len(rows)}"
            start = time.perf_counter()
            dataset = build_packed_corpus(corpus, fingerprints, tokenizer, args.block_size, cache, processes)
            seconds = time.perf_counter() - start
            rows.append((label, seconds, dataset.real_tokens()))
            packed.append(b"".join(p.read_bytes() for p in sorted(cache.iterdir()) if p.suffix in (".bin", ".json")))
        os.environ.pop("TOKENIZERS_PARALLELISM")

        start = time.perf_counter()
        hit = build_packed_corpus(corpus, fingerprints, tokenizer, args.block_size, cache, args.processes)
        hit_s = time.perf_counter() - start

    print(f"\ncorpus: {megabytes:.1f} MB in 2 sources, {rows[0][2]:,} tokens, {len(hit):,} blocks of {args.block_size}")
    print(f"data check alone (serial, part of every build): {check_s:.2f} s")
    print(f"{os.cpu_count()} CPUs")
    print(f"{'processes':>12} {'seconds':>8} {'tokens/s':>11}")
    for label, seconds, tokens in rows:
        print(f"{label:>12} {seconds:8.2f} {tokens / seconds:11,.0f}")
    n = args.processes
    print(f"speed ratio ({n} processes / 1): {rows[0][1] / rows[2][1]:.2f}x")
    print(f"speed ratio ({n} processes / 1 process, 1 thread): {rows[1][1] / rows[2][1]:.2f}x")
    print(f"packed bytes identical: {'yes' if packed[0] == packed[1] == packed[2] else 'NO'}")
    print(f"cache hit (same key, second build): {hit_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
