"""De-identification throughput: MB/s per core and peak memory, the detector on main vs this tree, 1 and 2 workers.

PYTHONPATH=src python benchmarks/deid_throughput.py            # 10 MB of generated CPT-like text
PYTHONPATH=src python benchmarks/deid_throughput.py --mb 4 --old-ref main

MB/CPU-s is the rate per core: megabytes over the CPU seconds of the process and its workers, which holds on a machine
shared with other work, where wall-clock MB/s does not (two workers only run faster than one on two idle cores).

The text: the bundled ChiMed CPT documents (knowledge-base prose, QA) with one clinical note in eight (the
development notes, PHI included), one JSON record per line, repeated to --mb megabytes. Each configuration runs in a
fresh process (`qilin data deid` on the file), which reports its wall time and peak resident memory (the parent's;
with workers, also the largest worker's). The old detector is main's src/qilin/privacy, copied out with git show
into a temporary package, so both run side by side on the same machine in the same minute.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_corpus(path: Path, megabytes: float) -> int:
    """Write CPT-like JSONL of about `megabytes` MB; return its size in bytes."""
    from qilin.embedded.chimed import build_embedded
    from qilin.privacy.evaluate import EVAL_DIR

    with tempfile.TemporaryDirectory() as tmp:
        cpt = build_embedded(Path(tmp))["cpt"]
        docs = [json.loads(line)["text"] for line in cpt.open(encoding="utf-8")]
    notes = [json.loads(line)["text"] for line in (EVAL_DIR / "dev_notes.jsonl").open(encoding="utf-8")]
    lines, size, i = [], 0, 0
    while size < megabytes * 1e6:
        text = notes[(i // 8) % len(notes)] if i % 8 == 7 else docs[i % len(docs)]
        line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
        lines.append(line)
        size += len(line.encode("utf-8"))
        i += 1
    path.write_text("".join(lines), encoding="utf-8")
    return size


def old_package(ref: str, into: Path) -> Path:
    """main's qilin.privacy as a package named qilin_old_privacy under `into`."""
    pkg = into / "qilin_old_privacy"
    pkg.mkdir(parents=True)
    names = subprocess.run(  # every file, those of subpackages (the name tagger) too
        ["git", "ls-tree", "-r", "--name-only", f"{ref}:src/qilin/privacy"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in names:
        source = subprocess.run(
            ["git", "show", f"{ref}:src/qilin/privacy/{name}"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".py"):
            source = re.sub(r"\bqilin\.privacy\b", "qilin_old_privacy", source.decode("utf-8")).encode("utf-8")
        (pkg / name).write_bytes(source)
    # what its modules read beside the package (the name tagger's weights are binary: copied as bytes)
    for resource_file in ("deid/not_names.txt", "deid/traditional.txt", "deid/name_tagger.npz", "medical_kb.json"):
        target = into / "resources" / resource_file
        target.parent.mkdir(parents=True, exist_ok=True)
        shown = subprocess.run(
            ["git", "show", f"{ref}:src/qilin/resources/{resource_file}"], cwd=ROOT, capture_output=True
        )
        if shown.returncode == 0:
            target.write_bytes(shown.stdout)
    return into


def run_one(kind: str, corpus: Path, out: Path, workers: int, old_path: str) -> None:
    """One configuration in this process: print wall and CPU seconds and peak RSS (MB) as JSON."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime  # imports and the corpus path, not the work
    if kind == "old":
        sys.path.insert(0, old_path)
        from qilin_old_privacy.files import deid_files

        start = time.perf_counter()
        deid_files([corpus], out, workers=workers)  # the same worker count as its row says
    else:
        from qilin.privacy.files import deid_files

        start = time.perf_counter()
        deid_files([corpus], out, workers=workers)
    seconds = time.perf_counter() - start
    own, workers_usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + workers_usage.ru_utime + workers_usage.ru_stime - cpu_before
    rss, worker_rss = own.ru_maxrss / 1024, workers_usage.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss, "worker_rss_mb": worker_rss}))


def main() -> None:
    """Build the corpus, run every configuration in its own process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of the generated corpus in MB")
    parser.add_argument("--old-ref", default="main", help="git ref whose detector is 'old'")
    parser.add_argument("--run", nargs=4, metavar=("KIND", "CORPUS", "OUT", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--old-path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        kind, corpus, out, workers = args.run
        run_one(kind, Path(corpus), Path(out), int(workers), args.old_path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "cpt.jsonl"
        size = make_corpus(corpus, args.mb)
        old = old_package(args.old_ref, tmp / "old")
        configs = [
            ("old", 1),
            ("new", 1),
            ("new", 2),
            ("old", 1),
            ("new", 1),
            ("new", 2),
        ]  # twice: the machine is shared
        best: dict[tuple[str, int], dict] = {}
        for kind, workers in configs:
            out = tmp / f"out-{kind}-{workers}"
            cmd = [sys.executable, __file__, "--run", kind, str(corpus), str(out), str(workers), "--old-path", str(old)]
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            if (kind, workers) not in best or result["seconds"] < best[kind, workers]["seconds"]:
                best[kind, workers] = result
        print(f"corpus: {size / 1e6:.1f} MB of CPT-like JSONL (ChiMed CPT documents, one clinical note in eight)")
        header = ("detector", "workers", "wall s", "MB/s", "CPU s", "MB/CPU-s", "RSS MB", "worker RSS")
        widths = (7, 7, 6, 6, 8, 7, 10)
        print(f"{header[0]:<10} " + " ".join(f"{h:>{w}}" for h, w in zip(header[1:], widths, strict=True)))
        for (kind, workers), r in best.items():
            mb = size / 1e6
            worker_rss = f"{r['worker_rss_mb']:.0f}" if workers > 1 else "-"
            name = f"{kind} ({args.old_ref})" if kind == "old" else kind
            print(
                f"{name:<10} {workers:>7} {r['seconds']:>7.2f} {mb / r['seconds']:>6.2f} {r['cpu_seconds']:>6.1f} "
                f"{mb / r['cpu_seconds']:>8.2f} {r['rss_mb']:>7.0f} {worker_rss:>10}"
            )


if __name__ == "__main__":
    main()
