"""Safety and over-refusal evaluation: harmful medical requests and benign look-alikes, a rule-based judge
(Chinese + English) and an optional LLM judge. Public names below; the modules may change."""

from qilin.eval.safety.judge import LABELS, Verdict, judge_response
from qilin.eval.safety.llm_judge import judge_with_llm
from qilin.eval.safety.prompts import SafetyPrompt, embedded_prompts, load_prompts, read_safety_prompts
from qilin.eval.safety.scoring import judge_replies, safety_table

__all__ = [
    "LABELS",
    "SafetyPrompt",
    "Verdict",
    "embedded_prompts",
    "judge_replies",
    "judge_response",
    "judge_with_llm",
    "load_prompts",
    "read_safety_prompts",
    "safety_table",
]
