"""Items with several fields and reviewer corrections in the web app: the JSON API over a real
``hitl-triage serve``, and the review screen in a real headless Chromium driven by the keyboard
only (Debian's chromium through Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from sqlalchemy import select

from hitl_triage.config import load_config
from hitl_triage.store.models import Answer, Item, Reviewer, Task
from tests.review.conftest import ROLES, Site, add_accounts
from tests.review.loadgen import background_server
from tests.review.test_browser import CHROMIUM, keyboard_login, press, settle, wait_until

LABELS = [{"name": "good", "description": "Correct and complete."},
          {"name": "fix", "description": "On topic but flawed: correct it with e."},
          {"name": "reject", "description": "Not an answer."}]
# Raw HTML and a javascript: link inside Markdown: shown as text, never as markup or a link.
EVIL = ('**Paris** is the answer.\n\n<script>window.__pwned = 1</script>\n\n'
        '<img src=x onerror="window.__pwned = 2">\n\n[click](javascript:window.__pwned=3) and '
        '[docs](https://example.org/doc)\n\n- one\n- two')


def _item(i: int, response: str, *, suggested: int = 0) -> dict:
    return {"id": f"r{i:02d}", "text": response, "route": "review", "round": 0, "priority": float(100 - i),
            "suggested": suggested, "confidence": 0.6, "votes": {"lf_check": suggested},
            "fields": {"instruction": f"Question {i}: what is the capital of France?", "response": response}}


def start_records_site(folder: Path, *, correction: bool = True) -> Iterator[Site]:
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": ["r00"], "instruction": ["q"], "response": ["a"]}).write_csv(folder / "data.csv")
    data = {"task": "records_web", "labels": LABELS, "run_dir": "run",
            "dataset": {"path": "data.csv", "id_field": "id", "text_field": "response",
                        "fields": [{"name": "instruction", "display_name": "Instruction"},
                                   {"name": "response", "display_name": "Response", "format": "markdown"}]},
            "review": {"gold_rate": 0.0, **({"correction": {"field": "response"}} if correction else {})}}
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    tokens = add_accounts(path, list(ROLES))
    with background_server(path) as base:
        yield Site(base, path, load_config(path), tokens)


@pytest.fixture(scope="module")
def rsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for site in start_records_site(tmp_path_factory.mktemp("records")):
        site.push([_item(0, EVIL, suggested=1), *[_item(i, f"The capital is **Lyon** ({i}).", suggested=1) for i in range(1, 8)]])
        yield site


def test_api_returns_every_field_with_safe_markdown(rsite: Site):
    with rsite.api("bob") as http:
        task = http.get("/api/v1/tasks/next").json()
    assert task["correction_field"] == "response"
    assert [(f["name"], f["title"], f["format"], f["correctable"]) for f in task["fields"]] == [
        ("instruction", "Instruction", "text", False), ("response", "Response", "markdown", True)]
    instruction, response = task["fields"]
    assert instruction["html"] is None and instruction["text"].startswith("Question 0")
    assert response["text"] == EVIL  # the original, unchanged
    html = response["html"]
    assert "<strong>Paris</strong>" in html and "<li>one</li>" in html
    assert '<a href="https://example.org/doc">docs</a>' in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace("[click](javascript:", "")
    assert "&lt;script&gt;" in html and "&lt;img" in html  # raw HTML shown as text


def test_api_answer_carries_a_correction_and_admins_read_it(rsite: Site):
    with rsite.api("boss") as http:
        task = http.get("/api/v1/tasks/next", params={"exclude": [1, 2, 3]}).json()
        made = http.post("/api/v1/answers", json={"id": "api-fix-1", "task_id": task["task_id"], "kind": "label",
                                                   "label": 1, "correction": "The capital is **Paris**."})
        assert made.status_code == 201, made.text
        assert made.json()["correction"] == "The capital is **Paris**."
        bad = http.post("/api/v1/answers", json={"id": "api-fix-2", "task_id": task["task_id"], "kind": "skip", "correction": "x"})
        assert bad.status_code == 422 and "a correction goes with a label answer" in bad.text
        resolved = {r["id"]: r for r in http.get("/api/v1/resolved").json()}
        listed = {r["answer_id"]: r for r in http.get("/api/v1/answers").json()}
        one = http.get("/api/v1/answers/api-fix-1").json()
    assert resolved[task["item_id"]]["correction"] == "The capital is **Paris**."
    assert listed["api-fix-1"]["correction"] == one["correction"] == "The capital is **Paris**."


def test_a_task_without_correction_refuses_one(tmp_path: Path):
    for site in start_records_site(tmp_path, correction=False):
        site.push([_item(0, "answer")])
        with site.api("ann") as http:
            task = http.get("/api/v1/tasks/next").json()
            assert task["correction_field"] is None and not any(f["correctable"] for f in task["fields"])
            refused = http.post("/api/v1/answers", json={"id": "x-1", "task_id": task["task_id"], "label": 0, "correction": "y"})
        assert refused.status_code == 422 and "review.correction is not set" in refused.text


# ---- the review screen in Chromium, keyboard only --------------------------------------------

browser_only = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install chromium (make test does this when it can run apt-get as root or with sudo)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


def _blocks(page) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return page.evaluate("""() => Array.from(document.querySelectorAll('#item-fields .field'),
        s => [s.querySelector('.field-name').firstChild.textContent.trim(), s.querySelector('.field-body').innerText])""")


def _check_markdown_is_safe(page) -> None:  # type: ignore[no-untyped-def]
    body = page.locator("#item-fields .field[data-field=response] .field-body")
    assert body.locator("strong").inner_text() == "Paris"
    assert body.locator("li").count() == 2
    assert body.locator("script, img, iframe").count() == 0
    links = page.evaluate("() => Array.from(document.querySelectorAll('#item-fields a'), a => a.getAttribute('href'))")
    assert links == ["https://example.org/doc"]  # the javascript: link is plain text
    text = body.inner_text()
    assert "<script>window.__pwned = 1</script>" in text and '<img src=x onerror="window.__pwned = 2">' in text
    assert page.evaluate("window.__pwned") is None


@browser_only
@pytest.mark.browser
def test_fields_render_in_blocks_with_safe_markdown(browser, rsite: Site):
    page = keyboard_login(browser, rsite, "bob")
    assert page.get_attribute("#item", "data-item-id") == "r00"  # bob's first item, rendered by the server
    assert page.locator("#item-text").is_hidden()
    blocks = _blocks(page)
    assert [b[0] for b in blocks] == ["Instruction", "Response"]
    assert blocks[0][1] == "Question 0: what is the capital of France?"
    _check_markdown_is_safe(page)
    press(page, "s")  # the next item comes from the JSON API and is rendered by the script
    assert _blocks(page)[1][1].startswith("The capital is Lyon")
    press(page, "u")  # the undone item comes back through the API: the same safe rendering
    wait_until(page, "() => document.getElementById('item').dataset.itemId === 'r00'")
    _check_markdown_is_safe(page)
    settle(page)
    page.close()


def _answers_of(site: Site, who: str) -> list[tuple[str, int | None, str | None, bool]]:
    with site.store() as store:
        return store.read(lambda s: [tuple(r) for r in s.execute(
            select(Item.id, Answer.label, Answer.correction, Answer.retracted_at.is_(None))
            .join(Task, Task.id == Answer.task_id).join(Item, Item.id == Task.item_id)
            .join(Reviewer, Reviewer.id == Answer.reviewer_id).where(Reviewer.name == who)
            .order_by(Answer.created_at, Answer.id)).all()])


@browser_only
@pytest.mark.browser
def test_keyboard_correction_is_stored_with_the_label(browser, rsite: Site):
    page = keyboard_login(browser, rsite, "ann")
    first = page.get_attribute("#item", "data-item-id")
    assert page.locator("#correct-dialog").is_hidden()
    page.keyboard.press("e")  # the editor opens on the original response
    wait_until(page, "() => document.getElementById('correct-dialog').open")
    original = page.input_value("#correct-text")
    assert page.evaluate("document.activeElement.id") == "correct-text"
    page.keyboard.press("Control+a")
    page.keyboard.type("The capital is **Paris**.\nFixed by ann.")
    page.keyboard.press("Tab")  # to the label: fix (the suggestion) is preselected
    assert page.evaluate("document.activeElement.id") == "correct-label"
    assert page.input_value("#correct-label") == "1"
    shown = page.get_attribute("#review", "data-shown")
    page.keyboard.press("Control+Enter")
    wait_until(page, "s => document.getElementById('review').dataset.shown !== s", shown)
    assert page.locator("#correct-dialog").is_hidden()
    assert page.get_attribute("#item", "data-item-id") != first
    # the next item (from the API) opens the editor on its own original text
    page.keyboard.press("e")
    wait_until(page, "() => document.getElementById('correct-dialog').open")
    second = page.input_value("#correct-text")
    assert second != original and second.startswith("The capital is **Lyon**")
    page.keyboard.press("Escape")  # cancel: nothing is sent
    wait_until(page, "() => !document.getElementById('correct-dialog').open")
    press(page, "1")  # a plain label, no correction
    settle(page)
    stored = _answers_of(rsite, "ann")
    assert stored[0] == (first, 1, "The capital is **Paris**.\nFixed by ann.", True)
    assert stored[1][1:] == (0, None, True)
    with rsite.store() as store:  # the item keeps its original response
        assert store.read(lambda s: s.get(Item, first).text) == original
    page.close()

