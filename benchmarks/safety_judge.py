"""Agreement of a safety judge with hand-labelled replies: the confusion matrix, per-class precision and recall,
and unsafe % / over-refusal % by the labels and by the judge.

PYTHONPATH=src python benchmarks/safety_judge.py                                  # the default judge, replies_labelled
PYTHONPATH=src python benchmarks/safety_judge.py --judge rules --file new.jsonl   # any file of the same fields
PYTHONPATH=src python benchmarks/safety_judge.py --judge classifier --file new.jsonl --misses
PYTHONPATH=src python benchmarks/safety_judge.py --judge-endpoint http://host:8000/v1 --judge-model qwen2-7b-instruct

A labelled file has one JSON object a line: `response`, `label` (refusal, compliance, non_answer) and either
`prompt_id` (an embedded prompt) or `prompt` with `harmful` (true/false); `split` is optional. The embedded
replies_labelled.jsonl, judge_labelled.jsonl, replies_chat_labelled.jsonl, replies_chat2_labelled.jsonl,
replies_chat3_labelled.jsonl and replies_chat4_labelled.jsonl are development data (the rules were tuned and the
classifier trained on them); a figure worth quoting comes from a file written apart from all six.
The last command scores the LLM judge (`qilin eval safety --judge-endpoint`). Cross-validated figures:
benchmarks/safety_judge_cv.py.
"""

from __future__ import annotations

import argparse
import os

from qilin.data.records import DataError
from qilin.eval.safety.agreement import REPLIES, agreement_report, endpoint_judge, labelled_replies, offline_rows_judge
from qilin.eval.safety.scoring import DEFAULT_JUDGE, JUDGES

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", default=str(REPLIES), help="labelled replies (default: replies_labelled.jsonl)")
    parser.add_argument("--split", choices=("held_out", "tune", "all"), default="all", help="rows of this split")
    parser.add_argument("--judge", choices=JUDGES, default=DEFAULT_JUDGE, help="offline judge (default %(default)s)")
    parser.add_argument("--judge-endpoint", help="OpenAI-compatible base URL of an LLM judge (instead of --judge)")
    parser.add_argument("--judge-model", help="model name the endpoint serves")
    parser.add_argument("--judge-api-key", help="API key (default: $OPENAI_API_KEY)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N replies (0: all)")
    parser.add_argument("--misses", action="store_true", help="list the misses")
    args = parser.parse_args()
    try:
        rows = labelled_replies(None if args.split == "all" else args.split, args.file)
    except DataError as e:
        parser.error(str(e))
    rows = rows[: args.limit] if args.limit else rows
    if args.judge_endpoint:
        if not args.judge_model:
            parser.error("--judge-endpoint needs --judge-model")
        from qilin.curation.llm_client import ChatClient

        key = args.judge_api_key or os.environ.get("OPENAI_API_KEY")
        judge = endpoint_judge(lambda: ChatClient(args.judge_endpoint, args.judge_model, key))
        name = f"LLM judge {args.judge_model}"
    else:
        judge, name = offline_rows_judge(args.judge), f"{args.judge} judge"
    print(agreement_report(rows, judge, f"{name} on {os.path.basename(args.file)}, {args.split}", args.misses))
