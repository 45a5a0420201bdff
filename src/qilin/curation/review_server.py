"""`qilin data review`: a small local web page to accept, edit or reject translated items, one at a time.

GET  /               the page (static/review.html): source, image, editable translation, flags; keys a/r/e/j/k
GET  /api/queue      the reviewer's queue with each item's latest decision
POST /api/decision   {"id", "decision": accept|edit|reject, "edited": [text per segment]}: saved before the answer
GET  /images/NAME    a file inside the image folder, nothing outside it (no "..", no symlink out)
It listens on 127.0.0.1 only: the page writes files and has no login. Requests must name 127.0.0.1 or localhost
as their host (a web page elsewhere cannot reach it by DNS rebinding) and decisions must be sent as JSON (which a
cross-site form cannot do).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from qilin.curation.review import decisions_path, load_decisions, record_decision
from qilin.curation.translate import TranslatedItem


class DecisionRequest(BaseModel):
    id: str
    decision: str
    edited: list[str] | None = None


def image_file(root: Path, name: str) -> Path | None:
    """The file `name` names inside `root`, or None when it is missing or would lie outside `root`."""
    root = root.resolve()
    try:
        path = (root / name).resolve()  # resolves ".." and symlinks before the containment check
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def _image_url(root: Path, name: str) -> str | None:
    path = image_file(root, name)
    return None if path is None else "/images/" + quote(path.relative_to(root.resolve()).as_posix())


def local_page_app(title: str, page: str) -> FastAPI:
    """An app that answers only to 127.0.0.1/localhost (a reviewer's own machine) and serves static/`page` at /."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])

    @app.get("/", response_class=HTMLResponse)
    async def serve_page() -> str:
        return resources.files("qilin.curation").joinpath(f"static/{page}").read_text(encoding="utf-8")

    return app


def create_review_app(dataset_dir: Path, reviewer: str, queue: list[TranslatedItem], images: Path) -> FastAPI:
    """The review page and its API for one reviewer over `queue`; images are served from `images` only."""
    by_id = {r.item.id: r for r in queue}
    log = decisions_path(dataset_dir, reviewer)
    app = local_page_app("Qilin ChiMed-VL review", "review.html")

    @app.get("/api/queue")
    async def get_queue() -> dict[str, Any]:
        decided = load_decisions(log)
        items = []
        for r in queue:
            row = r.to_dict()
            row["image_url"] = _image_url(images, r.item.image)
            row["decision"] = decided.get(r.item.id)
            items.append(row)
        return {"reviewer": reviewer, "dataset": str(dataset_dir), "items": items}

    @app.post("/api/decision")
    async def post_decision(body: DecisionRequest) -> dict[str, Any]:
        result = by_id.get(body.id)
        if result is None:
            raise HTTPException(404, f"item {body.id!r} is not in this review queue")
        try:
            return record_decision(dataset_dir, reviewer, result, body.decision, body.edited)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/images/{name:path}")
    async def get_image(name: str) -> FileResponse:
        path = image_file(images, name)
        if path is None:
            raise HTTPException(404, "no such image in the image folder")
        return FileResponse(path)

    return app


def serve_review(app: FastAPI, port: int) -> None:
    """Serve the review app on 127.0.0.1:`port` until Ctrl+C."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
