"""The review app's security rules in a real headless Chromium: invisible characters are shown,
a forged task id is refused, a flag waits for an admin, and the API docs render under the CSP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hitl_triage.store.models import Answer
from tests.review.conftest import PASSWORDS, Site, start_site
from tests.review.test_browser import CHROMIUM, browser, keyboard_login, press, settle  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium"),
]
RLO, ZWSP = "\u202e", "\u200b"
SPOOF = f"Log in at live.com/{RLO}moc.elgoog and claim your fr{ZWSP}ee prize"


@pytest.fixture(scope="module")
def xsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for site in start_site(tmp_path_factory.mktemp("bsecure"), {"gold_rate": 0.0}):
        site.push([{"id": "spoof", "text": SPOOF, "route": "review", "round": 0, "priority": 10.0, "suggested": 1, "confidence": 0.5, "judge_rationale": f"Mentions {RLO}lanruoj"}])
        site.push([{"id": f"n{i}", "text": f"plain comment {i}", "route": "review", "round": 0, "priority": float(-i)} for i in range(4)])
        yield site


def test_bidi_overrides_and_zero_width_characters_are_visible(browser, xsite: Site):  # noqa: F811
    page = keyboard_login(browser, xsite, "ann")
    assert page.get_attribute("#item", "data-item-id") == "spoof"
    shown = page.inner_text("#item-text")
    assert shown == "Log in at live.com/⟨U+202E⟩moc.elgoog and claim your fr⟨U+200B⟩ee prize"
    assert RLO not in page.content() and ZWSP not in page.content()
    markers = page.locator("#item-text .hidden-char")
    assert markers.count() == 2 and markers.first.get_attribute("title") == "RIGHT-TO-LEFT OVERRIDE"
    assert page.inner_text("#rationale") == "Mentions ⟨U+202E⟩lanruoj"
    # what the eye sees: the reversed part is not turned around (left to right on screen)
    boxes = page.evaluate("""() => {
        const node = [...document.querySelector('#item-text').childNodes].find(n => n.nodeType === 3 && n.data.startsWith('moc'));
        const r = document.createRange();
        const box = i => { r.setStart(node, i); r.setEnd(node, i + 1); return r.getBoundingClientRect().left; };
        return [box(0), box(4)];
    }""")
    assert boxes[0] < boxes[1]
    page.close()


def test_a_forged_task_id_in_the_form_is_refused(browser, xsite: Site):  # noqa: F811
    ann = keyboard_login(browser, xsite, "ann")
    no_js = browser.new_context(java_script_enabled=False)  # the forms themselves (the fallback)
    bob = keyboard_login(browser, xsite, "bob", context=no_js, js=False)
    anns_task = ann.get_attribute("#item", "data-task-id")
    assert bob.get_attribute("#item", "data-task-id") != anns_task
    # bob edits the task id in his answer form and submits it
    bob.evaluate("id => { document.querySelector('#answer-form input[name=task_id]').value = id; }", anns_task)
    with bob.expect_navigation():
        bob.click("#answer-form button[name=label][value='0']")
    assert f"task {anns_task} is not claimed by you" in bob.inner_text("#notice")
    # the same through the page's client (the JSON API): refused, said on the page, not stored
    bob_js = keyboard_login(browser, xsite, "bob")
    status = bob_js.evaluate("""async ([id, token]) => (await fetch("/api/v1/answers", {method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
        body: JSON.stringify({id: "forged", task_id: Number(id), label: 0})})).status""", [anns_task, bob_js.get_attribute("#review", "data-csrf")])
    assert status == 403
    bob_js.close()
    no_js.close()
    with xsite.store() as store:
        n_answers = store.read(lambda s: s.scalar(select(func.count(Answer.id))))
    assert n_answers == 0
    ann.close()
    bob.close()


def test_a_flag_stays_for_the_admin_until_resolved(browser, xsite: Site):  # noqa: F811
    ann = keyboard_login(browser, xsite, "ann")
    item = ann.get_attribute("#item", "data-item-id")
    ann.keyboard.press("f")
    ann.keyboard.type("looks like phishing")
    press(ann, "Enter")
    settle(ann)
    ann.close()
    bob = keyboard_login(browser, xsite, "bob")
    while bob.get_attribute("#item", "data-item-id") != item:  # bob answers until he gets it
        press(bob, "1")
    press(bob, "2")  # the other reviewer's label settles the item
    settle(bob)
    bob.close()
    admin = keyboard_login(browser, xsite, "boss")
    admin.goto(f"{xsite.base}/admin/disputes")
    row = admin.locator("#disputes tbody tr", has_text=item)
    assert row.count() == 1 and "ann: looks like phishing" in row.inner_text()
    with admin.expect_navigation():
        row.locator("a").click()
    assert "open flag" in admin.inner_text("#answers")
    with admin.expect_navigation():
        admin.locator("#resolve-form button").click()
    assert admin.url.endswith("/admin/disputes")
    assert admin.locator("#disputes tbody tr", has_text=item).count() == 0
    admin.close()


def test_api_docs_render_under_the_csp(browser, xsite: Site):  # noqa: F811
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    response = page.goto(f"{xsite.base}/api/docs")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".opblock-summary-path", has_text="/api/v1/answers").count() >= 1
    assert "hitl-triage review" in page.inner_text(".swagger-ui .info .title")
    assert not [p for p in problems if "Content Security Policy" in p or "failed:" in p], problems
    page.close()


def test_oversized_bodies_and_huge_integers_are_refused(browser, xsite: Site):  # noqa: F811
    page = keyboard_login(browser, xsite, "bob")
    token = page.get_attribute("#review", "data-csrf")
    statuses = page.evaluate("""async (token) => {
        const headers = {"Content-Type": "application/json", "X-CSRF-Token": token};
        const big = await fetch("/api/v1/answers", {method: "POST", headers, body: JSON.stringify({id: "big", task_id: 1, comment: "x".repeat(1100000)})});
        const huge = await fetch("/api/v1/answers", {method: "POST", headers, body: '{"id": "huge", "task_id": 1000000000000000000000000000000, "label": 0}'});
        return [big.status, huge.status];
    }""", token)
    assert statuses == [413, 422]
    page.close()
    # the review form (no script) with an absurd task id typed in (on an item of its own: the
    # other items are held by the earlier pages' prefetch)
    xsite.push([{"id": "huge-int", "text": "one more", "route": "review", "round": 0}])
    no_js = browser.new_context(java_script_enabled=False)
    page = keyboard_login(browser, xsite, "bob", context=no_js, js=False)
    page.evaluate("() => { document.querySelector('#answer-form input[name=task_id]').value = '1' + '0'.repeat(30); }")
    with page.expect_navigation() as nav:
        page.click("#answer-form button[name=label][value='0']")
    assert nav.value.status == 422
    no_js.close()


@pytest.fixture(scope="module")
def lsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server of its own for failed logins (default throttling)."""
    yield from start_site(tmp_path_factory.mktemp("blogin"), {"gold_rate": 0.0})


def test_failed_logins_are_throttled_in_the_browser(browser, lsite: Site):  # noqa: F811
    page = browser.new_page()
    statuses = []
    for password in ["wrong-1", "wrong-2", "wrong-3", "wrong-4", "wrong-5", PASSWORDS["ann"]]:
        page.goto(f"{lsite.base}/login")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", password)
        with page.expect_navigation() as nav:
            page.keyboard.press("Enter")
        statuses.append(nav.value.status)
    assert statuses == [401] * 5 + [429]
    assert "too many failed logins" in page.inner_text("body")
    page.close()
