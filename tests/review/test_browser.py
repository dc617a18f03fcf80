"""The review screen in a real headless Chromium (Debian's, driven by Playwright): keyboard-only
review, untrusted text, roles and CSRF."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hitl_triage.store.models import Answer, Item, Reviewer, Task
from tests.review.conftest import PASSWORDS, Site, start_site

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install chromium (make test does this when it can run apt-get as root or with sudo)"),
]
XSS_TEXT = 'Win! <script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> & more'
XSS_RATIONALE = "<b>bold</b> <img src=y onerror=\"window.__pwned = 3\">"


@pytest.fixture(scope="module")
def bsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for site in start_site(tmp_path_factory.mktemp("browser"), {"gold_rate": 0.0}):
        site.push([{"id": "xss", "text": XSS_TEXT, "route": "review", "round": 0, "suggested": 1, "confidence": 0.5, "votes": {"judge": 1, "lf_url": None}, "judge_rationale": XSS_RATIONALE}])
        site.push(
            [
                {"id": f"k{i:02d}", "text": f"Comment {i}: check out my channel, or maybe just a fan saying hi.", "route": "audit" if i % 4 == 0 else "review", "round": 1, "priority": float(100 - i), "suggested": i % 3, "confidence": 0.5 + i / 40, "votes": {"lf_link": i % 2, "lf_subscribe": None, "judge": i % 3}, "judge_rationale": "Mentions a channel; could be promotion."}
                for i in range(14)
            ]
        )
        yield site


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


def keyboard_login(browser, site: Site, who: str, *, context=None, viewport=(1440, 900), js: bool = True):  # type: ignore[no-untyped-def]
    """A page logged in as ``who`` with the keyboard (in ``context`` if given, so tabs share
    localStorage); waits until the review client has started."""
    size = {"width": viewport[0], "height": viewport[1]}
    page = browser.new_page(viewport=size) if context is None else context.new_page()
    page.goto(f"{site.base}/login")
    page.wait_for_function("document.activeElement && document.activeElement.name === 'name'")
    page.keyboard.type(who)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS[who])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/review"), page.inner_text("body")
    if js:
        page.wait_for_selector("#review[data-ready]", state="attached")
    return page


def press(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Press ``key`` and wait until the client shows the next item (or the empty queue)."""
    shown = page.get_attribute("#review", "data-shown") or "0"
    page.keyboard.press(key)
    wait_until(
        page,
        """s => { const r = document.getElementById('review');
                  return r.dataset.shown !== s && (document.getElementById('item').dataset.taskId !== ''
                         || document.getElementById('empty-text').textContent.startsWith('Queue empty')); }""",
        shown,
    )


def wait_until(page, predicate: str, arg: object = None, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (a JS function of ``arg``) until it is true. Playwright's
    ``wait_for_function`` compiles its predicate with eval, which the page's CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout} s: {predicate}")
        time.sleep(0.01)


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page's outbox is empty (every answer acknowledged by the server)."""
    wait_until(page, "() => document.getElementById('review').dataset.pending === '0'")


def live_answers(site: Site, who: str) -> list[tuple[str, str, int | None, str | None, bool, str]]:
    """(item, kind, label, comment, retracted, answer id) of every stored answer of ``who``."""
    with site.store() as store:
        return store.read(
            lambda s: [tuple(r) for r in s.execute(
                select(Item.id, Answer.kind, Answer.label, Answer.comment, Answer.retracted_at.is_not(None), Answer.id)
                .join(Task, Task.id == Answer.task_id)
                .join(Item, Item.id == Task.item_id)
                .join(Reviewer, Reviewer.id == Answer.reviewer_id)
                .where(Reviewer.name == who)
            ).all()]
        )


def test_untrusted_text_renders_as_text(browser, bsite: Site):
    page = keyboard_login(browser, bsite, "bob")
    assert page.get_attribute("#item", "data-item-id") == "xss"
    assert page.inner_text("#item-text") == XSS_TEXT
    assert page.inner_text("#rationale") == XSS_RATIONALE
    assert page.locator("#item-text img, #item-text script, #rationale img, #rationale b").count() == 0
    # the next items arrive through the API and are inserted as text too
    press(page, "s")
    press(page, "u")  # undo brings the server-rendered item back, fetched from the API
    wait_until(page, "() => document.getElementById('item').dataset.itemId === 'xss'")
    assert page.inner_text("#item-text") == XSS_TEXT
    assert page.inner_text("#rationale") == XSS_RATIONALE
    assert page.locator("#item-text img, #item-text script, #rationale img, #rationale b").count() == 0
    assert page.evaluate("window.__pwned") is None
    settle(page)
    page.close()


def test_keyboard_only_review_session(browser, bsite: Site, tmp_path: Path):
    page = keyboard_login(browser, bsite, "ann")
    expected: dict[str, tuple[str, int | None]] = {}

    def current() -> tuple[str, int | None]:
        item = page.get_attribute("#item", "data-item-id")
        suggested = page.get_attribute("#review", "data-suggested")
        return item, None if suggested == "" else int(suggested)  # blind audit items: none

    def toast() -> str:
        page.wait_for_selector("#toast:not([hidden])")
        return page.inner_text("#toast")

    page.keyboard.press("g")  # guidelines are one key away
    assert page.locator("#guidelines").is_visible() and "Self-promotion" in page.inner_text("#guidelines")
    page.keyboard.press("g")
    assert not page.locator("#guidelines").is_visible()

    for key in ["1", "2", "Enter", "3"]:
        item, suggested = current()
        key = "1" if key == "Enter" and suggested is None else key
        expected[item] = ("label", suggested if key == "Enter" else int(key) - 1)
        press(page, key)
    shot = Path(os.environ.get("HITL_REVIEW_SCREENSHOT", tmp_path / "review.png"))
    page.screenshot(path=str(shot))
    undone = list(expected)[-1]
    press(page, "Backspace")  # undo the last answer: its item comes back
    assert current()[0] == undone
    assert toast().startswith("Undone")
    del expected[undone]
    item, _ = current()
    expected[item] = ("label", 1)
    press(page, "2")
    item, _ = current()
    page.keyboard.press("f")
    page.keyboard.type("garbled, <b>not</b> English")
    press(page, "Enter")
    assert toast().startswith("Flagged")
    expected[item] = ("flag", None)
    item, _ = current()
    press(page, "s")
    assert toast().startswith("Skipped")
    expected[item] = ("skip", None)
    for key in ["1", "Enter", "2", "1"]:
        item, suggested = current()
        key = "1" if key == "Enter" and suggested is None else key
        expected[item] = ("label", suggested if key == "Enter" else int(key) - 1)
        press(page, key)
    assert len(expected) == 10
    # edit the second most recent answer in the side history: h, down, a digit
    page.keyboard.press("h")
    page.keyboard.press("ArrowDown")
    second = page.get_attribute(".hist.selected", "data-answer-id")
    page.keyboard.press("3")
    assert toast() == "Relabelled: other"
    edited_item = list(expected)[-2]
    expected[edited_item] = ("label", 2)
    assert page.locator(".hist").count() == 8  # history_size
    assert page.inner_text("#done-count") == "10"
    settle(page)

    rows = live_answers(bsite, "ann")
    live = {item: (kind, label) for item, kind, label, _c, retracted, _id in rows if not retracted}
    assert live == expected
    assert len(rows) == 12  # 10 live, the undone one, the edited one: nothing recorded twice
    retracted = sorted((item, answer_id == second) for item, _k, _l, _c, r, answer_id in rows if r)
    assert retracted == sorted([(undone, False), (edited_item, True)])
    assert [c for _i, kind, _l, c, r, _a in rows if kind == "flag"] == ["garbled, <b>not</b> English"]
    page.close()


def test_network_drop_and_closed_tab_lose_nothing(browser, bsite: Site):
    """Answers given offline wait in localStorage; a closed tab sends them when the page comes
    back; every answer is stored exactly once."""
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    page = keyboard_login(browser, bsite, "bob", context=context)
    given: dict[str, int] = {}
    for key in ["1", "2"]:
        given[page.get_attribute("#item", "data-item-id")] = int(key) - 1
        press(page, key)
    settle(page)  # before the drop: both answers sent and two items prefetched, whatever the load
    wait_until(page, "() => document.getElementById('review').dataset.buffered === '2'")
    context.set_offline(True)
    for key in ["3", "1"]:  # the prefetched items are still there to answer
        given[page.get_attribute("#item", "data-item-id")] = int(key) - 1
        press(page, key)
    page.wait_for_selector("#connection:not([hidden])")
    assert "Offline" in page.inner_text("#connection")
    assert int(page.get_attribute("#review", "data-pending")) >= 2
    context.set_offline(False)  # the connection comes back: the outbox is sent
    settle(page)
    assert page.locator("#connection").is_hidden()
    context.set_offline(True)
    item = page.get_attribute("#item", "data-item-id")
    page.keyboard.press("2")
    given[item] = 1
    wait_until(page, "() => document.getElementById('review').dataset.pending === '1'")
    page.close()  # the tab is closed before the answer could be sent
    context.set_offline(False)
    again = context.new_page()
    again.goto(f"{bsite.base}/review")
    settle(again)
    assert again.get_attribute("#item", "data-item-id") != item
    rows = live_answers(bsite, "bob")
    labels = {i: label for i, kind, label, _c, retracted, _id in rows if not retracted and i in given}
    assert labels == given
    assert len([r for r in rows if r[0] in given and not r[4]]) == len(given)  # exactly once each
    again.close()
    context.close()


def test_page_works_without_javascript(browser, bsite: Site):
    """The server-rendered forms are the fallback: a click posts and redirects."""
    bsite.push([{"id": f"nojs{i}", "text": f"no script {i}", "route": "review", "round": 1, "suggested": 0} for i in range(2)])
    context = browser.new_context(java_script_enabled=False)
    page = keyboard_login(browser, bsite, "boss", context=context, js=False)
    item = page.get_attribute("#item", "data-item-id")
    with page.expect_navigation():
        page.click("#answer-form button[name=label][value='1']")
    assert page.get_attribute("#item", "data-item-id") != item
    assert (item, "label", 1) in {(i, k, label) for i, k, label, _c, r, _a in live_answers(bsite, "boss") if not r}
    context.close()


def test_reviewer_gets_403_on_admin_pages(browser, bsite: Site):
    page = keyboard_login(browser, bsite, "ann")
    for path in ("/admin", "/admin/agreement", "/admin/disputes", "/api/v1/resolved"):
        response = page.goto(f"{bsite.base}{path}")
        assert response.status == 403, path
    page.close()
    admin = keyboard_login(browser, bsite, "boss")
    assert admin.goto(f"{bsite.base}/admin").status == 200
    assert "Gold items" in admin.inner_text("main")
    admin.close()


def test_request_without_csrf_token_is_refused(browser, bsite: Site):
    page = keyboard_login(browser, bsite, "bob")
    task_id = page.get_attribute("#item", "data-task-id")
    post = """async ([taskId, token]) => {
        const body = new URLSearchParams({answer_id: "csrf-test", task_id: taskId, kind: "label", label: "0"});
        if (token) body.set("csrf_token", token);
        const r = await fetch("/review/answer", {method: "POST", body, redirect: "manual"});
        return r.status;
    }"""
    assert page.evaluate(post, [task_id, None]) == 403
    assert page.evaluate(post, [task_id, "forged"]) == 403
    token = page.get_attribute("#review", "data-csrf")
    assert page.evaluate(post, [task_id, token]) in (0, 303)  # accepted: redirect (opaque)
    with bsite.store() as store:
        assert store.read(lambda s: s.get(Answer, "csrf-test")) is not None
    page.close()


def test_screenshot_is_written(tmp_path: Path):
    # the keyboard session above saves a screenshot; keep a copy when asked (docs)
    target = os.environ.get("HITL_REVIEW_SCREENSHOT_COPY")
    if target and Path(os.environ.get("HITL_REVIEW_SCREENSHOT", "")).is_file():
        shutil.copy(os.environ["HITL_REVIEW_SCREENSHOT"], target)


LONG_TEXT = "\n".join(f"Line {i}: a long comment that keeps going, with a link to my channel and more words." for i in range(60))
SOURCES = {"lf_link": 1, "lf_subscribe": 1, "lf_short": None, "lf_caps": 0, "lf_emoji": None, "judge": 1}


@pytest.fixture(scope="module")
def esite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Settled history (so sources have measured accuracies), then a long review item whose
    two models disagree, a blind audit item and a review item without any evidence."""
    for site in start_site(tmp_path_factory.mktemp("evidence"), {"gold_rate": 0.0}):
        site.push([{"id": f"h{i}", "text": f"history {i}", "route": "review", "round": 0, "votes": {"lf_link": 1, "lf_caps": i % 2, "judge": 1}} for i in range(4)])
        with site.api("ann") as http:  # ann labels all four 'spam' (1): lf_link 4/4, lf_caps 2/4, judge 4/4
            while (task := http.get("/api/v1/tasks/next")).status_code == 200:
                http.post("/api/v1/answers", json={"id": f"h-{task.json()['task_id']}", "task_id": task.json()["task_id"], "label": 1}).raise_for_status()
        evidence = {"suggested": 1, "confidence": 0.62, "votes": SOURCES, "judge_rationale": "Asks to visit a channel.",
                    "suggestion_source": "end_model", "label_model_label": 0, "label_model_confidence": 0.55, "end_model_label": 1, "end_model_confidence": 0.62}
        site.push([
            {"id": "long", "text": LONG_TEXT, "route": "review", "round": 1, "priority": 10.0, **evidence},
            {"id": "aud", "text": "an audit item", "route": "audit", "round": 1, "priority": 5.0, **evidence},
            {"id": "bare", "text": "a review item with no evidence", "route": "review", "round": 1, "priority": 4.0},
        ])
        yield site


def test_evidence_shows_voters_with_accuracy_and_both_models(browser, esite: Site, tmp_path: Path):
    page = keyboard_login(browser, esite, "bob", viewport=(1366, 820))
    assert page.get_attribute("#item", "data-item-id") == "long"

    def check_long() -> None:
        rows = page.locator("#sources tbody tr")
        assert rows.count() == 4  # only the sources that voted (lf_short, lf_emoji abstained)
        table = {r.split("\t")[0]: r.split("\t")[1:] for r in (rows.nth(i).inner_text() for i in range(4))}
        assert table["lf_link"] == ["spam", "100% n=4"] and table["lf_caps"] == ["ham", "50% n=4"]
        assert table["lf_subscribe"] == ["spam", "none yet n=0"] and table["judge"] == ["spam", "100% n=4"]
        assert page.inner_text("#suggestion-line").startswith("Suggested by the end model")
        models = page.inner_text("#models")
        assert "label model" in models and "ham" in models and "55%" in models and "spam" in models and "62%" in models
        # label buttons on screen without scrolling; the long text scrolls inside its card
        bottom = page.evaluate("() => Math.max(...[...document.querySelectorAll('.label-btn')].map(b => b.getBoundingClientRect().bottom))")
        legend = page.evaluate("() => document.querySelector('footer.keys').getBoundingClientRect().top")
        assert bottom <= legend <= 820, (bottom, legend)
        assert page.evaluate("() => { const t = document.getElementById('item-text'); return t.scrollHeight > t.clientHeight; }")
        assert page.evaluate("() => document.scrollingElement.scrollTop") == 0

    check_long()  # as the server rendered it
    shot = Path(os.environ.get("HITL_REVIEW_SCREENSHOT", tmp_path / "review.png"))
    page.screenshot(path=str(shot))
    press(page, "1")
    press(page, "u")  # the same item again, now drawn by the script from the API
    wait_until(page, "() => document.getElementById('item').dataset.itemId === 'long'")
    check_long()
    press(page, "2")
    assert page.get_attribute("#item", "data-item-id") == "aud"
    blind = page.inner_html("#evidence")
    assert page.locator("#sources, #models, #suggestion-line, #rationale").count() == 0
    assert "no suggestion" in page.inner_text("#evidence")
    press(page, "1")
    assert page.get_attribute("#item", "data-item-id") == "bare"
    assert page.inner_html("#evidence") == blind  # the audit item looks like any item without evidence
    press(page, "1")
    settle(page)
    page.close()


def test_api_does_not_tell_audit_from_review(esite: Site):
    esite.push([{"id": f"{route}2", "text": "x", "route": route, "round": 2, "priority": p, **extra}
                for route, p, extra in (("audit", 2.0, {"suggested": 0, "confidence": 0.9, "votes": {"judge": 0}, "suggestion_source": "label_model"}), ("review", 1.0, {}))])
    with esite.api("boss") as http:
        seen = []
        while (task := http.get("/api/v1/tasks/next")).status_code == 200:
            body = task.json()
            seen.append(body)
            http.post("/api/v1/answers", json={"id": f"b-{body['task_id']}", "task_id": body["task_id"], "label": 0}).raise_for_status()
    mine = [t for t in seen if t["item_id"] in ("audit2", "review2")]
    assert [t["item_id"] for t in mine] == ["audit2", "review2"]
    strip = {"task_id", "item_id", "item_id_segments"}
    audit, review = ({k: v for k, v in t.items() if k not in strip} for t in mine)
    assert audit == review and "route" not in audit
