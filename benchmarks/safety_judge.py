"""Agreement of a safety judge with the hand labels of replies_labelled.jsonl: the confusion matrix and per-class
precision and recall.

PYTHONPATH=src python benchmarks/safety_judge.py                        # the rule-based judge, held-out half
PYTHONPATH=src python benchmarks/safety_judge.py --split tune --misses  # the half the rules were tuned on
PYTHONPATH=src python benchmarks/safety_judge.py --judge-endpoint http://host:8000/v1 --judge-model qwen2-7b-instruct

The last scores the LLM judge (`qilin eval safety --judge-endpoint`) on the held-out half. The held-out half is only
ever scored: the rules were tuned on the tune half (and on the older judge_labelled.jsonl), never on its misses.
"""

from __future__ import annotations

import argparse
import os

from qilin.eval.safety.agreement import agreement_report, endpoint_judge, labelled_replies, rules_judge

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("held_out", "tune", "all"), default="held_out")
    parser.add_argument("--judge-endpoint", help="OpenAI-compatible base URL of an LLM judge (default: the rules)")
    parser.add_argument("--judge-model", help="model name the endpoint serves")
    parser.add_argument("--judge-api-key", help="API key (default: $OPENAI_API_KEY)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N replies of the split (0: all)")
    parser.add_argument("--misses", action="store_true", help="list the misses (read them on the tune split only)")
    args = parser.parse_args()
    rows = labelled_replies(None if args.split == "all" else args.split)
    rows = rows[: args.limit] if args.limit else rows
    if args.judge_endpoint:
        if not args.judge_model:
            parser.error("--judge-endpoint needs --judge-model")
        from qilin.curation.llm_client import ChatClient

        key = args.judge_api_key or os.environ.get("OPENAI_API_KEY")
        judge = endpoint_judge(lambda: ChatClient(args.judge_endpoint, args.judge_model, key))
        name = f"LLM judge {args.judge_model}"
    else:
        judge, name = rules_judge, "rule-based judge"
    print(agreement_report(rows, judge, f"{name} on replies_labelled.jsonl, {args.split}", args.misses))
