"""Any other multiple-choice file (CSV, JSON list or JSON lines), its fields named by `--fields`.

    --fields question=stem,options=choices,answer=label,groups=subject+type,id=qid

Defaults: question, options, answer; no groups; no id. `options` is, in JSON, an object of letter -> text or a
list of texts (lettered A, B, ...), and in CSV lines of "A text" (as CMExam writes them); without an options
field, single-letter columns (A, B, C, ...) are the options. `answer` holds the correct letters ("B", "AC").
"""

from __future__ import annotations

from string import ascii_uppercase

from qilin.config import ConfigError
from qilin.data.records import DataError
from qilin.eval.benchmarks.raw import RawFile, checked_answer, language_of, required
from qilin.eval.multiple_choice import ExamQuestion

FIELD_ROLES = ("question", "options", "answer", "groups", "id")
DEFAULT_FIELDS = {"question": "question", "options": "options", "answer": "answer"}


def parse_fields(spec: str | None) -> dict[str, str]:
    """`role=field,...` (roles: question, options, answer, groups as a+b, id) over the defaults."""
    fields = dict(DEFAULT_FIELDS)
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        role, sep, name = (s.strip() for s in part.partition("="))
        if not sep or role not in FIELD_ROLES or not name:
            raise ConfigError(f"--fields {spec!r}: expected ROLE=FIELD pairs, ROLE one of {', '.join(FIELD_ROLES)}")
        fields[role] = name
    return fields


def _options(raw: RawFile, obj: dict, where: str, fields: dict[str, str]) -> dict[str, str]:
    name = fields["options"]
    if name not in obj:
        letters = [k for k in obj if len(k) == 1 and k.upper() in ascii_uppercase]
        if not letters:
            raise DataError(raw.path, where, f"no field '{name}' and no option columns A, B, ...")
        return {k.upper(): str(obj[k]).strip() for k in letters if str(obj[k] or "").strip()}
    value = obj[name]
    if isinstance(value, dict):
        return {str(k).strip().upper(): str(v).strip() for k, v in value.items() if str(v).strip()}
    if isinstance(value, list):
        return {ascii_uppercase[i]: str(v).strip() for i, v in enumerate(value)}
    options = {}
    for line in str(value).splitlines():
        letter, _, text = line.strip().partition(" ")
        if line.strip() and (len(letter) != 1 or not text.strip()):
            raise DataError(raw.path, where, f"field '{name}': expected lines like 'A text', got {line.strip()!r}")
        if line.strip():
            options[letter.upper()] = text.strip()
    return options


def generic_questions(raw: RawFile, fields: dict[str, str]) -> list[ExamQuestion]:
    """Questions of any CSV or JSON file through the field names given."""
    groups = [g for g in fields.get("groups", "").split("+") if g]
    questions = []
    for where, _, obj in raw.records:
        question = required(obj, fields["question"], raw.path, where)
        options = _options(raw, obj, where, fields)
        if len(options) < 2:
            raise DataError(raw.path, where, f"field '{fields['options']}': fewer than two options")
        letters = required(obj, fields["answer"], raw.path, where, (str, list))
        letters = "".join(letters) if isinstance(letters, list) else letters
        answer = checked_answer(letters, options, raw.path, where, fields["answer"])
        id_value = obj.get(fields["id"]) if "id" in fields else None
        questions.append(
            ExamQuestion(
                question=question,
                options=options,
                answer=answer,
                annotations={g: str(obj[g]).strip() for g in groups if str(obj.get(g) or "").strip()},
                id=str(id_value).strip() if id_value not in (None, "") else None,
                language=language_of(question),
            )
        )
    return questions
