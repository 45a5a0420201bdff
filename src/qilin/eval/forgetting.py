"""The forgetting check: a general-domain multiple-choice exam scored per stage exactly as CMExam is.

A domain model that gains medicine may lose what its base knew. Any CSV in CMExam's layout serves as the general
exam (the bundled one, `embedded:general-exam`, asks capitals, continents, animal classes, element symbols, SI
units and small sums and products); its accuracy after each stage beside the base's shows the forgetting, and
what replay (`stages.cpt.replay`) buys back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qilin.eval.cmexam import evaluate_loglikelihood, read_cmexam


def general_metrics(model: Any, tokenizer: Any, path: Path, batch_size: int = 32) -> dict[str, Any]:
    """general_acc and general_acc_norm (%) by option log-likelihood, the question count, and acc per Domain."""
    questions = read_cmexam(path)
    tables = evaluate_loglikelihood(model, tokenizer, questions, batch_size)
    acc = tables["acc"]
    by_domain = {k.split("=", 1)[1]: v["accuracy"] for k, v in acc.items() if k.startswith("Domain=")}
    return {
        "general_acc": acc["all"]["accuracy"],
        "general_acc_norm": tables["acc_norm"]["all"]["accuracy"],
        "general_n": acc["all"]["n"],
        **({"general_by_domain": by_domain} if by_domain else {}),
    }
