"""ChiMed-VL review: the sampled queue, the page in a real headless Chromium, apply, and reviewer agreement."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qilin.config import ConfigError
from qilin.curation.review import apply_reviews, cohens_kappa, review_stats, sample_queue, stratum
from qilin.curation.review_server import create_review_app
from qilin.curation.sources import Segment, SourceItem
from qilin.curation.translate import TranslatedItem, read_translations, translate_file
from qilin.durable import append_jsonl, read_jsonl_log

from ..conftest import write_jsonl
from .conftest import data_cli, make_images
from .fake_llm import FakeLLM, serve

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOT = Path(__file__).resolve().parents[2] / "runs" / "screenshots" / "review_page.png"


@pytest.fixture
def translated(tmp_path: Path) -> Path:
    """A translation output directory: three flagged captions, two clean ones and a conversation, with images."""
    images = tmp_path / "images"
    images.mkdir()
    make_images(images, [f"img{i}.png" for i in range(6)])
    captions = [
        {"image": f"img{i}.png", "caption": f"Case {i}: axial CT shows a {i} cm mass in the left kidney{extra}."}
        for i, extra in enumerate([", spiculated", ", lobulated", ", calcified", "", ""])  # unknown words stay English
    ]
    turns = [{"from": "human", "value": "<image>\nWhere is the nodule?"}, {"from": "gpt", "value": "Right lung."}]
    llava = tmp_path / "llava.json"
    llava.write_text(json.dumps([{"id": "qa-1", "image": "img5.png", "conversations": turns}]))
    with serve(FakeLLM()) as url:
        translate_file(write_jsonl(tmp_path / "pmc.jsonl", captions), tmp_path / "out", url + "/v1", "m", images=images)
        translate_file(llava, tmp_path / "out_qa", url + "/v1", "m", images=images)
    # Both kinds in one directory, as a build from PMC-OA and a QA source would be after joining their flags.jsonl.
    with (tmp_path / "out" / "flags.jsonl").open("a") as f:
        f.write((tmp_path / "out_qa" / "flags.jsonl").read_text())
    return tmp_path / "out"


def item(i: int, kind: str = "caption", flag: str | None = None) -> TranslatedItem:
    flags = [{"segment": 0, "role": "caption", "name": flag, "detail": ""}] if flag else []
    return TranslatedItem(SourceItem(f"i{i}", f"{i}.png", kind, [Segment("caption", "x")]), ["译"], flags)


def test_the_queue_samples_every_stratum_in_proportion_flagged_first() -> None:
    results = (
        [item(i) for i in range(10)]
        + [item(i, flag="number_missing") for i in range(10, 14)]
        + [item(i, flag="laterality") for i in range(14, 16)]
        + [item(i, kind="conversation") for i in range(16, 20)]
    )
    queue = sample_queue(results, sample=8, seed=1)
    # One per stratum (4), then the other 4 by largest remainder of 4 * (1, 3, 9, 3) / 16 = 0.25, 0.75, 2.25, 0.75.
    assert Counter(stratum(r) for r in queue) == {
        ("caption", "laterality"): 1,
        ("caption", "number_missing"): 2,
        ("caption", "ok"): 3,
        ("conversation", "ok"): 2,
    }
    assert [bool(r.flags) for r in queue] == [True] * 3 + [False] * 5
    assert [r.item.id for r in sample_queue(results, 8, seed=1)] == [r.item.id for r in queue]  # same seed, same items
    assert len(sample_queue(results, 2, seed=1)) == 2 and all(r.flags for r in sample_queue(results, 2, seed=1))
    assert len(sample_queue(results)) == 20


def test_decisions_are_validated_and_images_stay_inside_their_folder(translated: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    (tmp_path / "secret.txt").write_text("not for the browser")
    (images / "link.png").symlink_to(tmp_path / "secret.txt")
    queue = read_translations(translated)
    app = create_review_app(translated, "li", queue, images)
    assert TestClient(app).get("/").status_code == 400  # Host: testserver is not 127.0.0.1 or localhost
    client = TestClient(app, base_url="http://127.0.0.1")
    assert "ChiMed-VL translation review" in client.get("/").text
    assert client.get("/images/img0.png").status_code == 200
    for sneaky in ("/images/..%2Fsecret.txt", "/images/%2e%2e/secret.txt", "/images/link.png", "/images//etc/passwd"):
        assert client.get(sneaky).status_code == 404, sneaky
    first = queue[0]
    assert client.post("/api/decision", json={"id": "nope", "decision": "accept"}).status_code == 404
    as_form = json.dumps({"id": first.item.id, "decision": "reject"})  # what a cross-site form could send
    assert client.post("/api/decision", content=as_form, headers={"content-type": "text/plain"}).status_code == 422
    wrong = client.post("/api/decision", json={"id": first.item.id, "decision": "edit", "edited": ["a", "b"]})
    assert wrong.status_code == 422 and "a list of 1 text" in wrong.json()["detail"]
    same = client.post("/api/decision", json={"id": first.item.id, "decision": "edit", "edited": first.translation})
    assert same.json()["decision"] == "accept"  # an edit that changes nothing is an accept
    assert client.get("/api/queue").json()["items"][0]["decision"]["decision"] == "accept"
    with pytest.raises(ConfigError, match="reviewer name"):
        create_review_app(translated, "../x", queue, images)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium at /usr/bin/chromium")
def test_review_page_accept_edit_reject_by_keyboard_then_apply(
    translated: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from playwright.sync_api import sync_playwright

    queue = sample_queue(read_translations(translated), seed=0)
    ids = [r.item.id for r in queue]
    assert [bool(r.flags) for r in queue] == [True, True, True, False, False, False]  # flagged first
    with serve(create_review_app(translated, "wang", queue, tmp_path / "images")) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 640})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        assert page.inner_text("#reviewer") == "wang" and page.get_attribute("#item", "data-id") == ids[0]
        assert "untranslated_english" in page.inner_text("#flags")
        page.wait_for_function("document.getElementById('image').naturalWidth === 16")  # served from the folder

        page.keyboard.press("a")
        page.wait_for_selector(f"body[data-last-saved='{ids[0]}:accept']")
        assert page.get_attribute("#item", "data-id") == ids[1]  # moved on
        page.keyboard.press("e")
        assert page.evaluate("document.activeElement.dataset.segment") == "0"
        page.keyboard.press("Control+A")
        page.keyboard.type("病例1：轴位CT示左肾一个1厘米分叶状肿块。")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector(f"body[data-last-saved='{ids[1]}:edit']")
        page.keyboard.press("r")
        page.wait_for_selector(f"body[data-last-saved='{ids[2]}:reject']")
        page.keyboard.press("k")
        assert page.get_attribute("#item", "data-id") == ids[2] and page.inner_text("#decision") == "decided: reject"
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)  # a flagged item, its flag and the decision
        page.keyboard.press("j")
        assert page.get_attribute("#item", "data-id") == ids[3]
        page.reload()  # decisions are on disk: the page comes back at the first undecided item
        page.wait_for_selector("body[data-ready=true]")
        assert page.get_attribute("#item", "data-id") == ids[3]
        assert page.inner_text("#progress") == "3 / 6 decided"
        browser.close()
    log = list(read_jsonl_log(translated / "review" / "decisions-wang.jsonl"))
    assert [(r["reviewer"], r["id"], r["decision"]) for r in log] == [
        ("wang", ids[0], "accept"),
        ("wang", ids[1], "edit"),
        ("wang", ids[2], "reject"),
    ]
    assert SCREENSHOT.stat().st_size > 10_000

    final = tmp_path / "final"
    assert data_cli(["review-apply", str(translated), "--out", str(final)]) == 0
    assert "accepted 1, edited 1, rejected 1, unreviewed 3 (dropped): 2 items written" in capsys.readouterr().out
    written = [json.loads(line) for line in (final / "captions.jsonl").read_text().splitlines()]
    assert written == [
        {"id": ids[0], "image": queue[0].item.image, "caption": queue[0].translation[0]},  # accepted as translated
        {"id": ids[1], "image": queue[1].item.image, "caption": "病例1：轴位CT示左肾一个1厘米分叶状肿块。"},
    ]
    assert not (final / "conversations.json").exists()  # the unreviewed conversation was dropped
    kept = apply_reviews(translated, tmp_path / "final_all", keep_unreviewed=True)
    assert (kept["written"], kept["rejected"]) == (5, 1) and (tmp_path / "final_all" / "conversations.json").exists()


def test_agreement_of_two_reviewers_matches_a_hand_computed_kappa(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a = ["accept"] * 5 + ["edit", "edit", "reject", "reject", "accept"]
    b = ["accept"] * 4 + ["edit", "edit", "reject", "reject", "accept", "accept"]
    # Agreement on items 1-4, 6, 8, 10: 7/10. Both raters: accept 6, edit 2, reject 2 -> chance (36 + 4 + 4) / 100.
    # kappa = (0.70 - 0.44) / (1 - 0.44) = 0.26 / 0.56 = 13/28.
    assert cohens_kappa(a, b) == pytest.approx(13 / 28)
    review = tmp_path / "review"
    review.mkdir()
    append_jsonl(review / "decisions-a.jsonl", {"id": "i1", "decision": "reject", "time": "2026-01-01T00:00:00"})
    for i, (x, y) in enumerate(zip(a, b, strict=True), 1):
        append_jsonl(review / "decisions-a.jsonl", {"id": f"i{i}", "decision": x, "time": "2026-01-01T00:01:00"})
        append_jsonl(review / "decisions-b.jsonl", {"id": f"i{i}", "decision": y, "time": "2026-01-01T00:02:00"})
    append_jsonl(review / "decisions-a.jsonl", {"id": "i11", "decision": "reject", "time": "2026-01-01T00:03:00"})
    [pair] = review_stats(tmp_path)["pairs"]  # a's first "reject" of i1 is replaced by its later "accept"
    assert pair["reviewers"] == ["a", "b"] and pair["items"] == 10  # i11 only a saw: not compared
    assert pair["percent_agreement"] == pytest.approx(70.0) and pair["kappa"] == pytest.approx(13 / 28)
    assert pair["confusion"]["accept/edit"] == 1 and pair["confusion"]["reject/accept"] == 1
    assert json.loads((review / "agreement.json").read_text())["pairs"][0]["kappa"] == pytest.approx(13 / 28)
    assert data_cli(["review-stats", str(tmp_path)]) == 0
    assert "a vs b: 10 shared items, agreement 70.0%, kappa 0.464" in capsys.readouterr().out
    assert cohens_kappa(["accept"] * 3, ["accept"] * 3) is None  # chance agreement 1: kappa undefined
