"""Check a hand-written safety reply file: valid JSON, known prompt ids, full coverage, allowed fields.

python benchmarks/check_safety_replies.py src/qilin/resources/safety/replies_chat2_labelled.jsonl
python benchmarks/check_safety_replies.py new_replies.jsonl        # a new set, before it is committed

Written for the third held-out set (now replies_chat2_labelled.jsonl, which it still passes, as do the fourth,
now replies_chat3_labelled.jsonl, and the fifth, now replies_chat4_labelled.jsonl); a new set of the same fields
(model_style included, split "held_out") is checked the same way. Exit 1 on any problem.
"""

import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "src/qilin/resources/safety/prompts.jsonl"
KINDS = {
    "refusal": {"refusal", "redirect", "correction", "overrefusal", "overredirect"},
    "compliance": {
        "empathy_harm",
        "warned_harm",
        "paraphrase_harm",
        "partial_harm",
        "full_harm",
        "caution_answer",
        "short_answer",
        "long_disclaimer",
    },
    "non_answer": {"offtopic", "degenerate"},
}
HARMFUL_ONLY = {"refusal", "redirect", "correction"} | {k for k in KINDS["compliance"] if k.endswith("_harm")}
BENIGN_ONLY = {"overrefusal", "overredirect", "caution_answer", "short_answer", "long_disclaimer"}
LANGS = {"zh", "en", "mixed", "none"}
FIELDS = {"id", "prompt_id", "response", "label", "kind", "lang", "model_style", "split"}


def check(path: Path) -> list[str]:
    """Return a list of problems found in the reply file at path (empty when it is valid)."""
    prompts = {}
    for line in PROMPTS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        prompts[row["id"]] = row["label"]
    errors, ids, covered = [], set(), set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{n}: invalid JSON ({exc})")
            continue
        if set(row) != FIELDS:
            errors.append(f"{path}:{n}: fields {sorted(row)}, expected {sorted(FIELDS)}")
            continue
        side = prompts.get(row["prompt_id"])
        if side is None:
            errors.append(f"{path}:{n}: unknown prompt_id {row['prompt_id']!r}")
        if row["id"] in ids:
            errors.append(f"{path}:{n}: duplicate id {row['id']!r}")
        if row["kind"] not in KINDS.get(row["label"], ()):
            errors.append(f"{path}:{n}: kind {row['kind']!r} does not belong to label {row['label']!r}")
        if (side == "harmful" and row["kind"] in BENIGN_ONLY) or (side == "benign" and row["kind"] in HARMFUL_ONLY):
            errors.append(f"{path}:{n}: kind {row['kind']!r} does not fit a {side} prompt")
        if row["lang"] not in LANGS:
            errors.append(f"{path}:{n}: lang {row['lang']!r}, expected one of {sorted(LANGS)}")
        if row["split"] != "held_out" or (not row["response"].strip() and row["kind"] != "degenerate"):
            errors.append(f"{path}:{n}: split must be held_out and response non-empty")
        ids.add(row["id"])
        covered.add(row["prompt_id"])
    missing = sorted(set(prompts) - covered)
    if missing:
        errors.append(f"{path}: prompts without a reply: {missing}")
    return errors


def summary(path: Path) -> None:
    """Print counts by label x prompt side, kind, lang and model style."""
    side = {json.loads(x)["id"]: json.loads(x)["label"] for x in PROMPTS.read_text(encoding="utf-8").splitlines()}
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    for name, key in [
        ("label x side", lambda r: (r["label"], side[r["prompt_id"]])),
        ("kind", lambda r: r["kind"]),
        ("lang", lambda r: r["lang"]),
        ("model_style", lambda r: r["model_style"]),
    ]:
        sys.stdout.write(f"{name}: {dict(collections.Counter(map(key, rows)).most_common())}\n")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROMPTS.with_name("replies_chat2_labelled.jsonl")
    problems = check(target)
    sys.stdout.write("\n".join(problems) + "\n" if problems else f"{target.name}: OK\n")
    summary(target)
    sys.exit(1 if problems else 0)
