"""The user message that puts retrieved passages in front of a question."""

from __future__ import annotations

from qilin.rag.index import Passage


def rag_prompt(question: str, passages: list[Passage]) -> str:
    """The question with its numbered reference passages in front; the question alone when there are none.

    Format (passages best first, one per line; the model can cite them as [1], [2]):

        参考资料：
        [1] 高血压患者常见头晕、头痛。
        [2] ...

        问题：高血压有什么症状？
    """
    if not passages:
        return question
    references = "\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, 1))
    return f"参考资料：\n{references}\n\n问题：{question}"
