"""The review app's security rules over real HTTP against ``hitl-triage serve``: answers only on
one's own claim, frozen finished rounds, login throttling, body and text limits, bounded
integers, flags that wait for an admin, and the API docs page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.review.conftest import PASSWORDS, Site, start_site
from tests.review.test_api import login


@pytest.fixture(scope="module")
def ssite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Single-overlap items, no gold, default limits."""
    yield from start_site(tmp_path_factory.mktemp("secure"), {"gold_rate": 0.0})


def _item(name: str, round: int, **extra) -> dict:
    return {"id": name, "text": f"text of {name}", "route": "review", "round": round, "suggested": 1, "confidence": 0.6, "votes": {"lf_link": 1}, **extra}


def _answer(http: httpx.Client, task_id: int, **body) -> httpx.Response:
    return http.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": task_id, "label": 0, **body})


def test_answers_only_on_a_task_you_hold(ssite: Site):
    ssite.push([_item("claim-a", 1), _item("claim-b", 1)])
    with ssite.api("ann") as ann, ssite.api("bob") as bob:
        held = ann.get("/api/v1/tasks/next").json()["task_id"]
        stolen = _answer(bob, held)
        assert stolen.status_code == 403 and f"task {held} is not claimed by you" in stolen.json()["detail"]
        bobs = bob.get("/api/v1/tasks/next").json()["task_id"]
        http, csrf = login(ssite, "bob")  # the web form with an edited task_id
        form = {"answer_id": str(uuid.uuid4()), "task_id": str(held), "kind": "label", "label": "2", "csrf_token": csrf}
        refused = http.post("/review/answer", data=form)  # the form says why on the review screen
        assert refused.status_code == 303 and "is%20not%20claimed%20by%20you" in refused.headers["location"]
        assert "is not claimed by you" in http.get(refused.headers["location"]).text
        assert ann.get(f"/api/v1/answers/{form['answer_id']}").status_code == 404  # nothing stored
        body = {"id": "retry-me", "task_id": held, "label": 1}
        assert ann.post("/api/v1/answers", json=body).status_code == 201
        assert ann.post("/api/v1/answers", json=body).status_code == 200  # idempotent retry
        assert bob.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": bobs, "label": 0}).status_code == 201
    with ssite.api("boss") as boss:
        rows = {r["id"]: r for r in boss.get("/api/v1/resolved").json()}
        assert rows["claim-a"]["label"] == 1 and rows["claim-a"]["reviewer"] == "ann"


def test_a_settled_task_of_a_finished_round_takes_no_answer(ssite: Site):
    ssite.push([_item("done-1", 2)])
    with ssite.api("ann") as ann, ssite.api("bob") as bob:
        task = ann.get("/api/v1/tasks/next").json()
        assert task["item_id"] == "done-1"
        assert ann.post("/api/v1/answers", json={"id": "done-ann", "task_id": task["task_id"], "label": 1}).status_code == 201
        ssite.push([_item("next-1", 3)])  # the next round starts: round 2 is finished
        late = _answer(bob, task["task_id"], label=2)
        assert late.status_code == 409 and "is settled: it takes no more answers" in late.json()["detail"]
        edit = ann.post("/api/v1/answers/done-ann/edit", json={"new_id": "done-ann-2", "label": 2})
        assert edit.status_code == 409 and "round 2 is finished" in edit.json()["detail"]
        undo = ann.post("/api/v1/answers/done-ann/undo")
        assert undo.status_code == 409 and "round 2 is finished" in undo.json()["detail"]
        nxt = bob.get("/api/v1/tasks/next").json()
        assert _answer(bob, nxt["task_id"]).status_code == 201  # leave nothing open
    with ssite.api("boss") as boss:
        rows = {r["id"]: r for r in boss.get("/api/v1/resolved").json()}
        assert (rows["done-1"]["label"], rows["done-1"]["reviewer"]) == (1, "ann")  # not "disputed"


def test_huge_integers_are_422_not_500(ssite: Site):
    huge = 10**30
    with ssite.api("boss") as boss:
        calls = [
            boss.post("/api/v1/answers", json={"id": "h1", "task_id": huge, "label": 0}),
            boss.post("/api/v1/answers", json={"id": "h2", "task_id": 1, "label": huge}),
            boss.post("/api/v1/answers/h1/edit", json={"new_id": "h3", "label": huge}),
            boss.post("/api/v1/items", json={"items": [_item("h-round", huge)]}),
            boss.post("/api/v1/items", json={"items": [_item("h-sugg", 1, suggested=huge)]}),
            boss.post("/api/v1/items", json={"items": [_item("h-vote", 1, votes={"lf": huge})]}),
            boss.post("/api/v1/gold", json={"item_id": "claim-a", "label": huge}),
            boss.post(f"/api/v1/tasks/{huge}/adjudicate", json={"label": 0}),
            boss.post(f"/api/v1/tasks/{huge}/resolve-flags", json={}),
            boss.get("/api/v1/pending", params={"round": huge}),
        ]
    http, csrf = login(ssite, "boss")
    calls += [
        http.get(f"/admin/tasks/{huge}"),
        http.post(f"/admin/tasks/{huge}/adjudicate", data={"label": "0", "csrf_token": csrf}),
        http.post("/review/answer", data={"answer_id": "h4", "task_id": str(huge), "kind": "label", "label": "0", "csrf_token": csrf}),
        http.post("/admin/gold", data={"item_id": "claim-a", "label": str(huge), "csrf_token": csrf}),
    ]
    assert [c.status_code for c in calls] == [422] * len(calls), [(c.request.url.path, c.status_code) for c in calls]


def test_request_bodies_are_limited_and_item_texts_too(ssite: Site):
    with ssite.api("boss") as boss:
        big = boss.post("/api/v1/items", json={"items": [_item("big", 4, text="x" * (1024 * 1024))]})
        assert big.status_code == 413 and "at most 1048576 bytes (review.max_body_bytes)" in big.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
            yield b'{"items": [{"id": "chunked", "round": 4, "text": "'
            for _ in range(40):
                yield b"y" * 32768
            yield b'"}]}'

        streamed = boss.post("/api/v1/items", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        long_text = boss.post("/api/v1/items", json={"items": [_item("long", 4, text="z" * 100_001)]})
        assert long_text.status_code == 422
        assert "item 'long': text has 100001 characters, at most 100000 (review.max_item_chars)" in long_text.json()["detail"]
        assert boss.get("/api/v1/pending", params={"round": 4}).json() == {"pending": 0}


def test_a_flag_stays_in_the_admin_queue_until_resolved(ssite: Site):
    ssite.push([_item("flag-me", 5)])
    with ssite.api("ann") as ann, ssite.api("bob") as bob:
        task = ann.get("/api/v1/tasks/next").json()
        assert task["item_id"] == "flag-me"
        assert ann.post("/api/v1/answers", json={"id": "the-flag", "task_id": task["task_id"], "kind": "flag", "comment": "half of it is <b>missing</b>"}).status_code == 201
        assert bob.get("/api/v1/tasks/next").json()["task_id"] == task["task_id"]
        assert _answer(bob, task["task_id"], label=1).json()["task_status"] == "settled"
        assert bob.post(f"/api/v1/tasks/{task['task_id']}/resolve-flags", json={}).status_code == 403
    boss, csrf = login(ssite, "boss")
    page = boss.get("/admin/disputes").text
    assert "<code>flag-me</code>" in page and "ann: half of it is &lt;b&gt;missing&lt;/b&gt;" in page
    with ssite.api("boss") as api:
        queue = api.get("/api/v1/flags").json()
        assert [(q["item_id"], q["status"], q["flags"]) for q in queue] == [("flag-me", "settled", ["ann: half of it is <b>missing</b>"])]
    detail = boss.get(f"/admin/tasks/{task['task_id']}").text
    assert "open flag" in detail and 'id="resolve-form"' in detail
    done = boss.post(f"/admin/tasks/{task['task_id']}/resolve-flags", data={"comment": "checked", "csrf_token": csrf})
    assert done.status_code == 303
    assert "<code>flag-me</code>" not in boss.get("/admin/disputes").text
    with ssite.api("boss") as api:
        assert api.get("/api/v1/flags").json() == []


def test_api_docs_are_served_from_the_package(ssite: Site):
    page = httpx.get(f"{ssite.base}/api/docs")
    assert page.status_code == 200 and "cdn" not in page.text and "<script>" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/swagger-ui.css", "/static/apidocs.js"):
        assert httpx.get(f"{ssite.base}{asset}").status_code == 200, asset
    spec = httpx.get(f"{ssite.base}/api/docs/openapi.json").json()
    assert spec["openapi"] == "3.0.3" and "/api/v1/answers" in spec["paths"]
    label = spec["components"]["schemas"]["AnswerIn"]["properties"]["label"]
    assert label.get("nullable") is True and "anyOf" not in label


@pytest.fixture(scope="module")
def tsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server of its own for login throttling, with the default limits (every test client
    connects from 127.0.0.1, so the address limit would lock the other tests out)."""
    yield from start_site(tmp_path_factory.mktemp("throttle"), {"gold_rate": 0.0})


def _try_login(site: Site, name: str, password: str) -> httpx.Response:
    http = httpx.Client(base_url=site.base, timeout=30)
    http.get("/login")
    return http.post("/login", data={"name": name, "password": password, "csrf_token": http.cookies["hitl_login_csrf"]})


def test_login_is_throttled_per_account(tsite: Site):
    for _ in range(5):
        assert _try_login(tsite, "ann", "wrong-password").status_code == 401
    blocked = _try_login(tsite, "ann", PASSWORDS["ann"])  # even the right password waits
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "too many failed logins" in blocked.text
    assert _try_login(tsite, "bob", PASSWORDS["bob"]).status_code == 303  # other accounts are fine
    with tsite.api("ann") as api:  # API tokens are not passwords: unaffected
        assert api.get("/api/v1/me").status_code == 200


def test_login_is_throttled_per_address(tsite: Site):
    # 20 failures from this address on names that need not exist, none more than 4 times
    # (fewer count if the test above already failed from here: then some answer 429 already)
    for i in range(20):
        assert _try_login(tsite, f"nobody-{i % 5}", "wrong-password").status_code in (401, 429)
    blocked = _try_login(tsite, "bob", PASSWORDS["bob"])
    assert blocked.status_code == 429 and "too many failed logins" in blocked.text


def test_the_limits_are_configurable(tmp_path_factory: pytest.TempPathFactory):
    review = {"gold_rate": 0.0, "max_body_bytes": 4096, "max_item_chars": 100, "login": {"max_failures": 2}}
    for site in start_site(tmp_path_factory.mktemp("limits"), review):
        with site.api("boss") as boss:
            assert boss.post("/api/v1/items", json={"items": [_item("b", 0, text="x" * 5000)]}).status_code == 413
            long_text = boss.post("/api/v1/items", json={"items": [_item("b", 0, text="x" * 101)]})
            assert long_text.status_code == 422 and "at most 100 (review.max_item_chars)" in long_text.json()["detail"]
            assert boss.post("/api/v1/items", json={"items": [_item("b", 0, text="x" * 100)]}).status_code == 200
        for _ in range(2):
            assert _try_login(site, "ann", "wrong-password").status_code == 401
        assert _try_login(site, "ann", PASSWORDS["ann"]).status_code == 429
