"""The team pages in a real headless Chromium, keyboard only: a flag reaches the admin's queue
with its comment and is resolved; a digit adjudicates a dispute and opens the next; the
statistics page shows the API's figures; history search, relabel, toast."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hitl_triage.store.models import Adjudication, Answer, FlagResolution, Item, Task
from tests.review.conftest import Site, start_site
from tests.review.test_browser import CHROMIUM, browser, keyboard_login, settle, wait_until  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install chromium"),
]
XSS = 'Flag me <img src=x onerror="window.__pwned = 1"> <b>now</b>'


@pytest.fixture(scope="module")
def asite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Items need two labels (so two different ones make a dispute)."""
    yield from start_site(tmp_path_factory.mktemp("team"), {"gold_rate": 0.0, "overlap": {"review": 2, "audit": 1}})


def _answer_all(site: Site, who: str, labels: dict[str, int]) -> dict[str, int]:
    """Label every task ``who`` is given by item id (others, left by earlier tests, are skipped)."""
    ids = {}
    with site.api(who) as http:
        while (task := http.get("/api/v1/tasks/next")).status_code == 200:
            body = task.json()
            ids[body["item_id"]] = body["task_id"]
            given = {"label": labels[body["item_id"]]} if body["item_id"] in labels else {"kind": "skip"}
            http.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": body["task_id"], **given}).raise_for_status()
    return ids


def _key_to(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Press ``key`` and wait for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press(key)


def test_flag_reaches_the_queue_with_its_comment_and_is_resolved(browser, asite: Site):  # noqa: F811
    asite.push([{"id": "fq-1", "text": XSS, "route": "review", "round": 0}])
    ann = keyboard_login(browser, asite, "ann")
    assert ann.get_attribute("#item", "data-item-id") == "fq-1"
    ann.keyboard.press("f")
    ann.keyboard.type("half is <b>missing</b>")
    ann.keyboard.press("Enter")
    settle(ann)
    ann.close()
    boss = keyboard_login(browser, asite, "boss")
    boss.goto(f"{asite.base}/admin/flags")
    card = boss.locator(".flag-card", has_text="fq-1")
    assert card.count() == 1 and "selected" in (card.get_attribute("class") or "")
    assert "ann: half is <b>missing</b>" in card.locator(".flag-comments").inner_text()  # as text
    assert XSS in card.locator(".flag-text").inner_text() and boss.evaluate("() => window.__pwned") is None
    assert "ann" in card.locator(".so-far").inner_text() and "flag" in card.locator(".so-far").inner_text()
    boss.keyboard.press("r")
    assert boss.evaluate("() => document.activeElement.classList.contains('resolve-note')")
    boss.keyboard.type("text was cut by the scraper")
    _key_to(boss, "Enter")
    assert boss.locator("#toast").text_content().startswith("Resolved 1 flag(s) of #")
    assert boss.locator(".flag-card").count() == 0 and boss.locator("#no-flags").count() == 1
    with asite.store() as store:
        notes = store.read(lambda s: s.scalars(select(FlagResolution.comment)).all())
    assert notes == ["text was cut by the scraper"]
    boss.close()


def test_a_digit_adjudicates_and_opens_the_next_dispute(browser, asite: Site):  # noqa: F811
    asite.push([{"id": f"d-{i}", "text": f"dispute {i}", "route": "review", "round": 1, "priority": float(-i)} for i in (1, 2)])
    task = _answer_all(asite, "ann", {"d-1": 0, "d-2": 0})
    _answer_all(asite, "bob", {"d-1": 1, "d-2": 1})
    boss = keyboard_login(browser, asite, "boss")
    boss.goto(f"{asite.base}/admin/disputes/next")
    assert boss.url.endswith(f"/admin/tasks/{task['d-1']}")
    _key_to(boss, "1")  # ham
    assert f"/admin/tasks/{task['d-2']}?" in boss.url
    assert boss.locator("#toast").text_content() == f"Adjudicated #{task['d-1']}: ham"
    boss.keyboard.press("n")  # a note first: Enter leaves the field, it picks no label
    boss.keyboard.type("both missed the link")
    boss.keyboard.press("Enter")
    assert boss.url.endswith(f"/admin/tasks/{task['d-2']}?notice=Adjudicated+%23{task['d-1']}%3A+ham")
    _key_to(boss, "3")  # other; no dispute left: back to the (empty) list
    assert "/admin/disputes?" in boss.url and boss.locator("#toast").text_content() == f"Adjudicated #{task['d-2']}: other"
    assert "Nothing disputed or flagged." in boss.inner_text("#disputes")
    with asite.store() as store:
        rows = store.read(lambda s: s.execute(select(Adjudication.task_id, Adjudication.label, Adjudication.comment).order_by(Adjudication.id)).all())
    assert [tuple(r) for r in rows] == [(task["d-1"], 0, None), (task["d-2"], 2, "both missed the link")]
    boss.close()


def test_statistics_page_shows_the_figures(browser, asite: Site):  # noqa: F811
    with asite.api("boss") as http:
        stats = {s["reviewer"]: s for s in http.get("/api/v1/stats").json()}
    # ann: a flag and two labels; one of the two adjudicated items right; bob (a skip, two labels) none right
    assert (stats["ann"]["n_answers"], stats["ann"]["adjudicated_accuracy"], stats["bob"]["adjudicated_accuracy"]) == (3, 0.5, 0.0)
    boss = keyboard_login(browser, asite, "boss")
    boss.goto(f"{asite.base}/admin/stats")
    row = boss.locator("#stats tr[data-reviewer=ann]")
    cells = [row.locator(f"td.{c}").inner_text() for c in ("n-answers", "per-hour", "median", "skip", "flag", "adjudicated")]
    ann = stats["ann"]
    assert cells == ["3", f"{ann['items_per_hour']:.1f}", f"{ann['median_seconds']:.1f}", "0%", "33%", "50% n=2"]
    assert boss.locator("#stats tr[data-reviewer=bob] td.adjudicated").inner_text() == "0% n=2"
    peers = [boss.locator("#peers tbody tr").nth(i).inner_text().split("\t") for i in range(2)]
    assert peers == [["ann", "bob", "2", "0%", "0.00"], ["bob", "ann", "2", "0%", "0.00"]]
    boss.close()


def test_history_search_relabel_and_toast(browser, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    for site in start_site(tmp_path_factory.mktemp("search"), {"gold_rate": 0.0}):
        site.push([{"id": "old", "text": "needle from round zero", "route": "review", "round": 0}])
        _answer_all(site, "ann", {"old": 0})
        site.push([{"id": f"n{i:02d}", "text": f"needle {i} <b>x</b>", "route": "review", "round": 1, "priority": float(-i)} for i in range(21)]
                  + [{"id": "hay", "text": "no match here", "route": "review", "round": 1, "priority": -99.0}])
        _answer_all(site, "ann", {**{f"n{i:02d}": 0 for i in range(21)}, "hay": 0})  # round 0 is now finished
        page = keyboard_login(browser, site, "ann")
        _key_to(page, "/")
        assert page.url.endswith("/review/history")
        assert page.evaluate("() => document.activeElement.id") == "q"
        page.keyboard.type("NEEDLE")
        _key_to(page, "Enter")
        assert page.inner_text("#search-count") == "22 answer(s) match · showing 1–20"
        first = page.locator("#results .hit").first
        assert "needle 20 <b>x</b>" in first.inner_text() and "selected" in (first.get_attribute("class") or "")
        page.keyboard.press("3")  # other
        wait_until(page, "() => ((document.getElementById('toast') || {}).textContent || '') !== ''")
        assert page.locator("#toast").text_content() == "Relabelled: other"
        assert first.locator(".given").inner_text() == "other"
        _key_to(page, "n")  # the next page: needle 0, then the round-zero answer
        hits = page.locator("#results .hit")
        assert hits.count() == 2 and "needle from round zero" in hits.nth(1).inner_text()
        page.keyboard.press("j")
        page.keyboard.press("2")
        wait_until(page, "() => ((document.getElementById('toast') || {}).textContent || '') !== ''")
        assert page.locator("#toast").text_content() == "Not recorded: round 0 is finished; ask an admin to adjudicate"
        _key_to(page, "Escape")
        assert page.url.endswith("/review")
        page.close()
        with site.store() as store:
            rows = store.read(lambda s: s.execute(
                select(Item.id, Answer.label).join(Task, Task.id == Answer.task_id).join(Item, Item.id == Task.item_id)
                .where(Answer.retracted_at.is_(None), Item.id.in_(["n20", "old"])).order_by(Item.id)
            ).all())
        assert [tuple(r) for r in rows] == [("n20", 2), ("old", 0)]
