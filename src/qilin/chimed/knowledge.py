"""The medical knowledge base: the bundled one, a user's own in the same schema, or a user's triples.

The bundled file (`qilin/resources/medical_kb.json`) is the knowledge-graph part of ChiMed in miniature:
common diseases with facts of eight relations, written by us from textbook knowledge.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from qilin.data.records import DataError, iter_json_records

# relation key -> Chinese label; single-valued relations first
RELATIONS = {
    "system": "所属系统",
    "department": "就诊科室",
    "symptoms": "典型症状",
    "examinations": "常用检查",
    "treatments": "一线治疗或药物",
    "complications": "常见并发症",
    "risk_factors": "危险因素或病因",
    "red_flags": "需要立即就医的危险信号",
}
SINGLE = ("system", "department")
MULTI = tuple(r for r in RELATIONS if r not in SINGLE)


@dataclass
class Disease:
    """One disease and its facts."""

    name: str
    system: str
    department: str
    aliases: list[str] = field(default_factory=list)
    symptoms: list[str] = field(default_factory=list)
    examinations: list[str] = field(default_factory=list)
    treatments: list[str] = field(default_factory=list)
    complications: list[str] = field(default_factory=list)
    risk_factors: list[str] = field(default_factory=list)
    red_flags: list[str] = field(default_factory=list)

    def facts(self, relation: str) -> list[str]:
        """The values of a relation as a list (single-valued relations give one item)."""
        value = getattr(self, relation)
        return [value] if isinstance(value, str) else list(value)

    def fact_count(self) -> int:
        """Number of (disease, relation, value) facts."""
        return sum(len(self.facts(r)) for r in RELATIONS)


def bundled_kb_path() -> Path:
    """Path of the knowledge base shipped inside the package."""
    return Path(str(resources.files("qilin") / "resources" / "medical_kb.json"))


def load_kb(path: str | Path | None = None) -> list[Disease]:
    """Diseases from a knowledge-base JSON file (the bundled one by default), checked against the schema."""
    path = Path(path) if path else bundled_kb_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise DataError(path, f"line {e.lineno}", f"not valid JSON: {e.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("diseases"), list):
        raise DataError(path, "", "expected an object with a 'diseases' list")
    diseases, seen = [], set()
    for i, raw in enumerate(data["diseases"]):
        where = f"diseases[{i}]"
        if not isinstance(raw, dict):
            raise DataError(path, where, "expected an object")
        for key in ("name", *SINGLE):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise DataError(path, where, f"field '{key}': expected a non-empty string")
        for key in ("aliases", *MULTI):
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise DataError(path, f"{where} ({raw['name']})", f"field '{key}': expected a list of strings")
        unknown = set(raw) - {"name", "aliases", *RELATIONS}
        if unknown:
            raise DataError(
                path, where, f"unknown field {sorted(unknown)[0]!r}; allowed: name, aliases, {', '.join(RELATIONS)}"
            )
        if raw["name"] in seen:
            raise DataError(path, where, f"disease {raw['name']!r} appears twice")
        seen.add(raw["name"])
        diseases.append(Disease(**raw))
    if not diseases:
        raise DataError(path, "", "the knowledge base lists no disease")
    return diseases


_RELATION_BY_LABEL = {label: key for key, label in RELATIONS.items()} | {key: key for key in RELATIONS}


def kb_from_triples(path: str | Path) -> list[Disease]:
    """Diseases from a user's triples: CSV with columns head,relation,tail, or JSONL with those fields.

    Relations are our keys (`symptoms`) or their Chinese labels (`典型症状`); a disease needs a system and a
    department triple. Example line: `高血压,department,心内科`.
    """
    path = Path(path)
    rows: list[tuple[str, dict]] = []
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"head", "relation", "tail"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(path, "line 1", f"missing column(s) {', '.join(sorted(missing))}")
            rows = [(f"line {i}", row) for i, row in enumerate(reader, 2)]
    else:
        for where, obj in iter_json_records(path):
            if isinstance(obj, DataError):
                raise obj
            rows.append((where, obj))
    by_name: dict[str, dict] = {}
    for where, row in rows:
        for key in ("head", "relation", "tail"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(path, where, f"field '{key}': expected a non-empty string")
        relation = _RELATION_BY_LABEL.get(row["relation"].strip())
        if relation is None:
            raise DataError(
                path,
                where,
                f"field 'relation': unknown relation {row['relation']!r}; expected one of {', '.join(RELATIONS)}",
            )
        entry = by_name.setdefault(row["head"].strip(), {"name": row["head"].strip()})
        if relation in SINGLE:
            entry[relation] = row["tail"].strip()
        else:
            entry.setdefault(relation, []).append(row["tail"].strip())
    diseases = []
    for name, entry in by_name.items():
        for key in SINGLE:
            if key not in entry:
                raise DataError(path, "", f"disease {name!r} has no '{key}' triple")
        diseases.append(Disease(**entry))
    return diseases
