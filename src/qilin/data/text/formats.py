"""The input formats Qilin accepts, each a small named reader, and the checks that name bad records.

Every reader turns one raw record into one of three normal forms:
- cpt: a document, `str`
- sft: a conversation, `list[{"role": "system"|"user"|"assistant", "content": str}]` ending with an assistant turn
- dpo: `{"prompt": conversation ending with a user turn, "chosen": str, "rejected": str}`

A record that does not fit raises DataError naming the file, the line (or record number for .json arrays),
the field and what was expected. Files are read as streams: a CPT corpus larger than memory is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qilin.data.records import DataError, iter_json_records, iter_text_documents, require_field, text_layout

KINDS = ("cpt", "sft", "dpo")


# --- conversations -----------------------------------------------------------------------------------

_ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "input": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "output": "assistant",
}


def _normalize_turns(turns: list, field_name: str) -> list[dict[str, str]]:
    """Turns as {role|from, content|value} (or Qilin-Med's {input, output} pairs) -> role/content messages."""
    messages = []
    for i, turn in enumerate(turns):
        where = f"{field_name}[{i}]"
        if not isinstance(turn, dict):
            raise ValueError(f"{where}: expected an object, got {type(turn).__name__}")
        if "input" in turn and "output" in turn:  # Qilin-Med variant: one object per exchange
            for key, role in (("input", "user"), ("output", "assistant")):
                if not isinstance(turn[key], str):
                    raise ValueError(f"{where}.{key}: expected str, got {type(turn[key]).__name__}")
                messages.append({"role": role, "content": turn[key]})
            continue
        speaker_key = "role" if "role" in turn else "from"
        text_key = "content" if "content" in turn else "value"
        if speaker_key not in turn:
            raise ValueError(f"{where}: missing 'role' (or ShareGPT 'from')")
        if text_key not in turn:
            raise ValueError(f"{where}: missing 'content' (or ShareGPT 'value')")
        role = _ROLE_ALIASES.get(str(turn[speaker_key]).lower())
        if role is None:
            raise ValueError(
                f"{where}.{speaker_key}: unknown speaker {turn[speaker_key]!r}; expected one of "
                f"{', '.join(sorted(_ROLE_ALIASES))}"
            )
        if not isinstance(turn[text_key], str):
            raise ValueError(f"{where}.{text_key}: expected str, got {type(turn[text_key]).__name__}")
        messages.append({"role": role, "content": turn[text_key]})
    return messages


def _check_conversation(messages: list[dict[str, str]], field_name: str, must_end_with: str) -> None:
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body:
        raise ValueError(f"field '{field_name}': has no user or assistant turn")
    for i, m in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise ValueError(
                f"field '{field_name}': turn {i + 1} is {m['role']!r}, expected {expected!r} "
                "(turns alternate user/assistant after an optional system turn)"
            )
        if not m["content"].strip():
            raise ValueError(f"field '{field_name}': turn {i + 1} ({m['role']}) is empty")
    if body[-1]["role"] != must_end_with:
        raise ValueError(f"field '{field_name}': must end with a {must_end_with} turn, ends with {body[-1]['role']}")


# --- named formats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """A named input format: the keys that identify it, and the reader for one record."""

    name: str
    kind: str
    keys: tuple[str, ...]
    read: Callable[[Any], Any]
    example: str = field(repr=False)


def read_text_record(record: Any) -> str:
    """{"text": "高血压是..."}"""
    return require_field(record, "text")


def read_messages(record: Any) -> list[dict[str, str]]:
    """{"messages": [{"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "..."}]}"""
    messages = _normalize_turns(require_field(record, "messages", list), "messages")
    _check_conversation(messages, "messages", "assistant")
    return messages


def read_sharegpt(record: Any) -> list[dict[str, str]]:
    """{"conversations": [{"from": "human", "value": "头痛怎么办？"}, {"from": "gpt", "value": "..."}]}"""
    messages = _normalize_turns(require_field(record, "conversations", list), "conversations")
    if isinstance(record.get("system"), str) and record["system"]:
        messages.insert(0, {"role": "system", "content": record["system"]})
    _check_conversation(messages, "conversations", "assistant")
    return messages


def read_alpaca(record: Any) -> list[dict[str, str]]:
    """{"instruction": "解释高血压的危险因素", "input": "", "output": "..."}"""
    instruction = require_field(record, "instruction")
    extra = record.get("input", "")
    if not isinstance(extra, str):
        raise ValueError(f"field 'input': expected str, got {type(extra).__name__}")
    output = require_field(record, "output")
    user = f"{instruction}\n{extra}" if extra.strip() else instruction
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    if isinstance(record.get("system"), str) and record["system"]:
        messages.insert(0, {"role": "system", "content": record["system"]})
    return messages


def _response_text(value: Any, name: str) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"field '{name}': is empty")
        return value
    if isinstance(value, list) and value:
        messages = _normalize_turns(value, name)
        if messages[-1]["role"] != "assistant":
            raise ValueError(f"field '{name}': the last message must be the assistant's")
        return messages[-1]["content"]
    raise ValueError(f"field '{name}': expected a string or a list of messages, got {type(value).__name__}")


def _prompt_messages(value: Any, name: str, system: Any = None) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": value}] if isinstance(value, str) else _normalize_turns(value, name)
    if isinstance(system, str) and system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    _check_conversation(messages, name, "user")
    return messages


def read_preference(record: Any) -> dict[str, Any]:
    """{"prompt": "头痛怎么办？", "chosen": "建议...", "rejected": "不用管"}  (prompt may be a message list)"""
    prompt = require_field(record, "prompt", (str, list))
    return {
        "prompt": _prompt_messages(prompt, "prompt", record.get("system")),
        "chosen": _response_text(require_field(record, "chosen", (str, list)), "chosen"),
        "rejected": _response_text(require_field(record, "rejected", (str, list)), "rejected"),
    }


def read_medicalgpt_preference(record: Any) -> dict[str, Any]:
    """{"conversations": [{"from": "human", "value": "头痛怎么办？"}], "chosen": "建议...", "rejected": "不用管"}"""
    return {
        "prompt": _prompt_messages(require_field(record, "conversations", list), "conversations", record.get("system")),
        "chosen": _response_text(require_field(record, "chosen", (str, list)), "chosen"),
        "rejected": _response_text(require_field(record, "rejected", (str, list)), "rejected"),
    }


def read_qilin_preference(record: Any) -> dict[str, Any]:
    """{"question": "头痛怎么办？", "response_chosen": "建议...", "response_rejected": "不用管"}"""
    return {
        "prompt": _prompt_messages(require_field(record, "question"), "question"),
        "chosen": _response_text(require_field(record, "response_chosen"), "response_chosen"),
        "rejected": _response_text(require_field(record, "response_rejected"), "response_rejected"),
    }


def read_qilin_cmexam_preference(record: Any) -> dict[str, Any]:
    """{"instruction": "...单选题...", "response_accepted": "答案：C", "response_rejected": "答案：A"}"""
    return {
        "prompt": _prompt_messages(require_field(record, "instruction"), "instruction"),
        "chosen": _response_text(require_field(record, "response_accepted"), "response_accepted"),
        "rejected": _response_text(require_field(record, "response_rejected"), "response_rejected"),
    }


def _fmt(name: str, kind: str, keys: tuple[str, ...], read: Callable[[Any], Any]) -> Format:
    return Format(name, kind, keys, read, (read.__doc__ or "").strip())


# Order matters where keys overlap: the first format whose keys are all present is chosen.
FORMATS: tuple[Format, ...] = (
    _fmt("text", "cpt", ("text",), read_text_record),
    _fmt("messages", "sft", ("messages",), read_messages),
    _fmt("sharegpt", "sft", ("conversations",), read_sharegpt),
    _fmt("alpaca", "sft", ("instruction", "output"), read_alpaca),
    _fmt("preference", "dpo", ("prompt", "chosen", "rejected"), read_preference),
    _fmt("medicalgpt-preference", "dpo", ("conversations", "chosen", "rejected"), read_medicalgpt_preference),
    _fmt("qilin-preference", "dpo", ("question", "response_chosen", "response_rejected"), read_qilin_preference),
    _fmt(
        "qilin-cmexam-preference",
        "dpo",
        ("instruction", "response_accepted", "response_rejected"),
        read_qilin_cmexam_preference,
    ),
)


def detect_format(record: Any, kind: str, path: Path, where: str) -> Format:
    """Pick the format of `kind` whose identifying keys the record has; name the options if none fits."""
    candidates = [f for f in FORMATS if f.kind == kind]
    if isinstance(record, dict):
        for fmt in candidates:
            if all(k in record for k in fmt.keys):
                return fmt
    keys = ", ".join(record) if isinstance(record, dict) else type(record).__name__
    options = "; ".join(f"{f.name} ({', '.join(f.keys)})" for f in candidates)
    raise DataError(path, where, f"no {kind} format matches the fields [{keys}]; expected one of: {options}")


# --- plain-text corpora (CPT) ------------------------------------------------------------------------

# --- reading and checking whole files ----------------------------------------------------------------


@dataclass
class FileReport:
    """What `qilin data check` reports for one file."""

    path: str
    kind: str
    format: str = ""
    records: int = 0
    bad: int = 0
    first_error: DataError | None = None

    def raise_if_bad(self) -> None:
        """Refuse the file, naming its first bad record and how many are bad."""
        if self.first_error is not None:
            e = self.first_error
            raise DataError(e.path, e.where, f"{e.message} ({self.bad} of {self.records} records are bad)")


def iter_file(path: str | Path, kind: str, report: FileReport | None = None) -> Iterator[Any]:
    """Yield every good record of `path` in the normal form of `kind`.

    Without a report the first bad record raises DataError; with one, bad records are counted in it and
    skipped, so a checker sees them all.
    """
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not path.is_file():
        raise DataError(path, "", "file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "", "file is empty")
    if report is None:
        report = FileReport(str(path), kind)
        strict = True
    else:
        strict = False

    def bad(error: DataError) -> None:
        report.bad += 1
        report.first_error = report.first_error or error
        if strict:
            raise error

    if kind == "cpt" and path.suffix in (".txt", ".md"):
        report.format = f"text ({text_layout(path)})"
        for _, doc in iter_text_documents(path):
            report.records += 1
            yield doc
    elif path.suffix in (".jsonl", ".json"):
        fmt: Format | None = None
        for where, obj in iter_json_records(path):
            report.records += 1
            if isinstance(obj, DataError):
                bad(obj)
                continue
            try:
                if fmt is None:
                    fmt = detect_format(obj, kind, path, where)
                    report.format = fmt.name
                yield fmt.read(obj)
            except DataError as e:
                bad(e)
            except ValueError as e:
                bad(DataError(path, where, str(e)))
    else:
        accepted = ".txt, .jsonl or .json" if kind == "cpt" else ".jsonl or .json"
        raise DataError(path, "", f"unsupported file type {path.suffix!r} for {kind} data; expected {accepted}")
    if report.records == 0:
        raise DataError(path, "", "file holds no records")
    if strict:
        report.raise_if_bad()


def check_file(path: str | Path, kind: str) -> FileReport:
    """Read a whole file, counting good and bad records without stopping at the first bad one."""
    report = FileReport(str(path), kind)
    for _ in iter_file(path, kind, report):
        pass
    return report


def read_file(path: str | Path, kind: str) -> list[Any]:
    """All records of a (small) SFT or DPO file, refusing the file if any record is bad."""
    report = FileReport(str(path), kind)
    records = list(iter_file(path, kind, report))
    report.raise_if_bad()
    return records
