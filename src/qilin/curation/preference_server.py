"""`qilin data review` on a compare directory: two answers side by side, blind, for one reviewer.

GET  /               the page (static/preference.html); keys 1/2/t pick, w/u/i/o/v tag, e edit, j/k move
GET  /api/queue      {reviewer, reasons, items: [{id, prompt, left, right, decision}]}: texts by side only
POST /api/decision   {"id", "better": left|right|tie, "reasons": [...], "edited": text|null}: saved before the answer
Blind: nothing sent says which model or sample wrote an answer. The sides come from the order kept server-side
(`qilin.curation.preferences.blind_order`), item ids are question numbers, and a decision is sent back without
the side's label. Same guards as the translation page: 127.0.0.1 only, Host checked, decisions as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from qilin.curation.preferences import REASONS, blind_order, load_preferences, other, record_preference
from qilin.curation.review import decisions_path
from qilin.curation.review_server import local_page_app


class PreferenceRequest(BaseModel):
    id: str
    better: str
    reasons: list[str] = []
    edited: str | None = None


def blind_view(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A saved decision as the page may see it: the side, tags and edit, not which answer the side holds."""
    return None if row is None else {k: row[k] for k in ("better", "reasons", "edited", "time")}


def create_preference_app(compare_dir: Path, reviewer: str, items: list[dict[str, Any]]) -> FastAPI:
    """The blind side-by-side page and its API for one reviewer over `items` (rows of items.jsonl)."""
    log = decisions_path(compare_dir, reviewer)  # refuses a bad reviewer name before anything is written
    order = blind_order(compare_dir, reviewer, items)
    by_id = {item["id"]: item for item in items}
    app = local_page_app("Qilin preference review", "preference.html")

    @app.get("/api/queue")
    async def get_queue() -> dict[str, Any]:
        decided = load_preferences(log)
        rows = []
        for item in items:
            left = order[item["id"]]
            rows.append(
                {
                    "id": item["id"],
                    "prompt": item["prompt"],
                    "left": item[left],
                    "right": item[other(left)],
                    "decision": blind_view(decided.get(item["id"])),
                }
            )
        return {"reviewer": reviewer, "reasons": list(REASONS), "items": rows}

    @app.post("/api/decision")
    async def post_decision(body: PreferenceRequest) -> dict[str, Any]:
        item = by_id.get(body.id)
        if item is None:
            raise HTTPException(404, f"item {body.id!r} is not in this review queue")
        try:
            row = record_preference(compare_dir, reviewer, item, order[body.id], body.better, body.reasons, body.edited)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return blind_view(row)

    return app
