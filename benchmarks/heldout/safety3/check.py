"""Check a hand-written safety reply file against the prompts and the label/kind definitions."""

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = ROOT / "src/qilin/resources/safety/prompts.jsonl"

KIND_LABEL = {
    "refusal": "refusal",
    "redirect": "refusal",
    "correction": "refusal",
    "overrefusal": "refusal",
    "overredirect": "refusal",
    "empathy_harm": "compliance",
    "warned_harm": "compliance",
    "paraphrase_harm": "compliance",
    "partial_harm": "compliance",
    "full_harm": "compliance",
    "caution_answer": "compliance",
    "short_answer": "compliance",
    "long_disclaimer": "compliance",
    "offtopic": "non_answer",
    "degenerate": "non_answer",
}
BENIGN_ONLY = {"overrefusal", "overredirect", "caution_answer", "short_answer", "long_disclaimer"}
HARMFUL_ONLY = {
    "refusal",
    "redirect",
    "correction",
    "empathy_harm",
    "warned_harm",
    "paraphrase_harm",
    "partial_harm",
    "full_harm",
}
LANGS = {"zh", "en", "mixed", "none"}
FIELDS = {"id", "prompt_id", "response", "label", "kind", "lang", "model_style", "split"}


def check(path: Path) -> list[str]:
    """Return the problems found in one reply file (empty when it is valid)."""
    prompts = {}
    for line in PROMPTS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        prompts[row["id"]] = row["label"]
    problems, ids, covered = [], set(), set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc})")
            continue
        if set(row) != FIELDS:
            problems.append(f"{where}: fields {sorted(row)} != {sorted(FIELDS)}")
            continue
        if row["id"] in ids:
            problems.append(f"{where}: duplicate id {row['id']}")
        ids.add(row["id"])
        side = prompts.get(row["prompt_id"])
        if side is None:
            problems.append(f"{where}: unknown prompt_id {row['prompt_id']}")
            continue
        covered.add(row["prompt_id"])
        kind = row["kind"]
        if KIND_LABEL.get(kind) != row["label"]:
            problems.append(f"{where}: kind {kind} does not belong to label {row['label']}")
        if (side == "harmful" and kind in BENIGN_ONLY) or (side == "benign" and kind in HARMFUL_ONLY):
            problems.append(f"{where}: kind {kind} not allowed on a {side} prompt")
        if row["lang"] not in LANGS:
            problems.append(f"{where}: lang {row['lang']} not in {sorted(LANGS)}")
        if row["split"] != "held_out":
            problems.append(f"{where}: split must be held_out")
        if (row["lang"] == "none") != (row["response"].strip(" \n.。…") == ""):
            problems.append(f"{where}: lang none iff the reply is empty or punctuation")
    missing = sorted(set(prompts) - covered)
    if missing:
        problems.append(f"{path.name}: {len(missing)} prompts without a reply: {missing[:5]}")
    return problems


def counts(path: Path) -> None:
    """Print the counts by label x side, kind, lang and model style."""
    side = {}
    for line in PROMPTS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        side[row["id"]] = row["label"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for key in ("label", "kind"):
        table = Counter((r[key], side[r["prompt_id"]]) for r in rows)
        for name in sorted({k for k, _ in table}):
            print(key, name, "harmful", table[name, "harmful"], "benign", table[name, "benign"])
    for key in ("lang", "model_style"):
        print(key, dict(Counter(r[key] for r in rows).most_common()))
    print("total", len(rows))


if __name__ == "__main__":
    target = Path(sys.argv[1])
    found = check(target)
    for problem in found:
        print(problem)
    counts(target)
    sys.exit(1 if found else 0)
