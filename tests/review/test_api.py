"""The JSON API and the server's security rules, over real HTTP against ``hitl-triage serve``."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.review.conftest import PASSWORDS, Site


def _item(i: int, route: str = "audit", round: int = 1, **extra) -> dict:
    return {"id": f"api-{route}-{i}", "text": f"comment {i}", "route": route, "round": round, "priority": float(i), "suggested": 1, "confidence": 0.6, "votes": {"lf_link": 1, "judge": None}, **extra}


def login(site: Site, who: str) -> tuple[httpx.Client, str]:
    """A browser-like client logged in with a session cookie; returns it and its CSRF token."""
    http = httpx.Client(base_url=site.base, timeout=30)
    http.get("/login")
    response = http.post("/login", data={"name": who, "password": PASSWORDS[who], "csrf_token": http.cookies["hitl_login_csrf"]})
    assert response.status_code == 303 and response.headers["location"] == "/review"
    page = http.get("/review").text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return http, csrf


def test_authentication_is_required(site: Site):
    assert httpx.get(f"{site.base}/api/v1/me").status_code == 401
    bad = httpx.get(f"{site.base}/api/v1/me", headers={"Authorization": "Bearer htr_forged"})
    assert bad.status_code == 401 and "invalid or revoked" in bad.json()["detail"]
    page = httpx.get(f"{site.base}/review")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    with site.api("ann") as http:
        assert http.get("/api/v1/me").json() == {"name": "ann", "role": "reviewer"}


def test_wrong_password_and_login_without_csrf(site: Site):
    http = httpx.Client(base_url=site.base, timeout=30)  # a scrypt run may take seconds on a busy machine
    http.get("/login")
    token = http.cookies["hitl_login_csrf"]
    wrong = http.post("/login", data={"name": "ann", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "wrong reviewer name or password" in wrong.text
    refused = http.post("/login", data={"name": "ann", "password": PASSWORDS["ann"], "csrf_token": "forged"})
    assert refused.status_code == 403


def test_push_answer_retry_and_pull(site: Site):
    assert site.push([_item(i) for i in range(3)]) == 3
    assert site.push([_item(0)]) == 0  # idempotent per (id, round)
    with site.api("ann") as http:
        task = http.get("/api/v1/tasks/next").json()
        assert task["item_id"] == "api-audit-2" and task["suggested_name"] is None and task["votes"] == {}  # blind audit
        assert "route" not in task  # audit items look like review items
        body = {"id": str(uuid.uuid4()), "task_id": task["task_id"], "kind": "label", "label": 0}
        first = http.post("/api/v1/answers", json=body)
        retry = http.post("/api/v1/answers", json=body)
        assert (first.status_code, first.json()["created"]) == (201, True)
        assert (retry.status_code, retry.json()["created"]) == (200, False)
        mine = http.get("/api/v1/answers").json()
        assert [a["answer_id"] for a in mine] == [body["id"]] and "route" not in mine[0]
    with site.api("boss") as http:
        resolved = http.get("/api/v1/resolved").json()
        assert {"id": "api-audit-2", "label": 0, "reviewer": "ann", "round": 1, "route": "audit"}.items() <= resolved[0].items()
        assert http.get("/api/v1/pending", params={"round": 1}).json() == {"pending": 2}


def test_errors_map_to_status_codes(site: Site):
    site.push([_item(10, round=2)])
    with site.api("bob") as http:
        task = http.get("/api/v1/tasks/next").json()
        bad_label = http.post("/api/v1/answers", json={"id": "x1", "task_id": task["task_id"], "label": 7})
        assert bad_label.status_code == 422 and "class index in [0, 3), got 7" in bad_label.json()["detail"]
        assert http.post("/api/v1/answers", json={"id": "x2", "task_id": 99999, "label": 0}).status_code == 404
        assert http.post("/api/v1/answers", json={"id": "x3", "task_id": task["task_id"], "label": 0, "extra": 1}).status_code == 422
        assert http.post("/api/v1/answers", json={"id": "x4", "task_id": task["task_id"], "label": 0}).status_code == 201
        again = http.post("/api/v1/answers", json={"id": "x5", "task_id": task["task_id"], "label": 1})
        assert again.status_code == 409 and "already has your answer" in again.json()["detail"]
        edited = http.post("/api/v1/answers/x4/edit", json={"new_id": "x6", "label": 2})
        assert edited.status_code == 200 and edited.json()["label"] == 2
        assert http.post("/api/v1/answers/x6/undo").json() == {"task_id": task["task_id"]}


@pytest.mark.parametrize("path", ["/admin", "/admin/agreement", "/admin/disputes", "/admin/tasks/1"])
def test_reviewers_get_403_on_admin_pages(site: Site, path: str):
    http, _ = login(site, "ann")
    response = http.get(path)
    assert response.status_code == 403 and "admins only" in response.text
    boss, _ = login(site, "boss")
    assert boss.get(path).status_code in (200, 404)


def test_reviewers_get_403_on_admin_api_and_others_answers(site: Site):
    site.push([_item(20, round=3)])
    with site.api("bob") as bob:
        task = bob.get("/api/v1/tasks/next").json()
        assert bob.post("/api/v1/answers", json={"id": "bob-secret", "task_id": task["task_id"], "label": 1}).status_code == 201
    with site.api("ann") as ann:
        assert ann.post("/api/v1/items", json={"items": [_item(99)]}).status_code == 403
        for path in ("/api/v1/resolved", "/api/v1/agreement", "/api/v1/pending"):
            assert ann.get(path).status_code == 403
        assert ann.get("/api/v1/answers", params={"reviewer": "bob"}).status_code == 403
        assert ann.get("/api/v1/answers/bob-secret").status_code == 403
        assert ann.post("/api/v1/tasks/1/adjudicate", json={"label": 0}).status_code == 403
        assert ann.post("/api/v1/gold", json={"item_id": "api-audit-0", "label": 0}).status_code == 403
    with site.api("boss") as boss:
        assert boss.get("/api/v1/answers/bob-secret").json()["reviewer"] == "bob"
        assert [a["answer_id"] for a in boss.get("/api/v1/answers", params={"reviewer": "bob"}).json()].count("bob-secret") == 1


def test_csrf_is_required_on_state_changing_session_requests(site: Site):
    site.push([_item(30, round=4)])
    http, csrf = login(site, "ann")
    page = http.get("/review").text
    task_id = int(page.split('name="task_id" value="', 1)[1].split('"', 1)[0])
    form = {"answer_id": str(uuid.uuid4()), "task_id": str(task_id), "kind": "label", "label": "1"}
    assert http.post("/review/answer", data=form).status_code == 403
    assert http.post("/review/answer", data={**form, "csrf_token": "forged"}).status_code == 403
    evil = http.post("/review/answer", data={**form, "csrf_token": csrf}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert http.post("/api/v1/answers", json={"id": "c1", "task_id": task_id, "label": 1}).status_code == 403
    assert http.post("/logout").status_code == 403
    ok = http.post("/review/answer", data={**form, "csrf_token": csrf})
    assert ok.status_code == 303
    api_ok = http.post("/api/v1/answers", json={"id": form["answer_id"], "task_id": task_id, "label": 1}, headers={"X-CSRF-Token": csrf})
    assert api_ok.status_code == 200 and api_ok.json()["created"] is False  # the form's answer, retried


def test_overlap_dispute_adjudication_and_agreement(site: Site):
    site.push([_item(40, route="review", round=5), _item(41, route="review", round=5)])
    for who, labels in (("ann", {40: 1, 41: 0}), ("bob", {40: 1, 41: 2})):
        with site.api(who) as http:
            answered = 0
            while answered < 2:
                task = http.get("/api/v1/tasks/next").json()
                if task["round"] != 5:  # left over by earlier tests: skip it
                    http.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": task["task_id"], "kind": "skip"})
                    continue
                n = int(task["item_id"].rsplit("-", 1)[1])
                assert http.post("/api/v1/answers", json={"id": f"{who}-{n}", "task_id": task["task_id"], "label": labels[n]}).status_code == 201
                answered += 1
    boss, csrf = login(site, "boss")
    disputes = boss.get("/admin/disputes").text
    assert "api-review-41" in disputes and "api-review-40" not in disputes
    detail_id = int(disputes.split('href="/admin/tasks/', 1)[1].split('"', 1)[0])
    detail = boss.get(f"/admin/tasks/{detail_id}").text
    assert detail.count('class="answer-card"') == 2 and "ann" in detail and "bob" in detail
    assert boss.post(f"/admin/tasks/{detail_id}/adjudicate", data={"label": "2", "csrf_token": csrf}).status_code == 303
    with site.api("boss") as http:
        rows = {r["id"]: r for r in http.get("/api/v1/resolved").json()}
        assert rows["api-review-41"]["reviewer"] == "adjudicated" and rows["api-review-41"]["label"] == 2
        assert rows["api-review-40"]["reviewer"] == "ann,bob"
        agreement = http.get("/api/v1/agreement").json()
        assert agreement["pairs"][0]["a"] == "ann" and agreement["pairs"][0]["n"] == 2
    page = boss.get("/admin/agreement").text
    assert "Krippendorff" in page and 'id="pairs"' in page


def test_pages_send_a_strict_content_security_policy(site: Site):
    response = httpx.get(f"{site.base}/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_next_task_with_exclude_claims_ahead(site: Site):
    """A client prefetches: ``exclude`` passes over the tasks it holds, and each is still its."""
    site.push([_item(i, route="review", round=7, id=f"ahead-{i}") for i in range(3)])
    with site.api("bob") as http:
        first = http.get("/api/v1/tasks/next").json()
        assert http.get("/api/v1/tasks/next").json()["task_id"] == first["task_id"]  # the held one
        second = http.get("/api/v1/tasks/next", params={"exclude": [first["task_id"]]}).json()
        assert second["task_id"] != first["task_id"]
        assert [s["text"] for s in second["text_segments"]] == [second["text"]]
        for task in (second, first):  # both claims are live: answers to either are accepted
            answer = http.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": task["task_id"], "label": 0})
            assert answer.status_code == 201, answer.text
        assert http.get("/api/v1/tasks/next", params={"exclude": [2**40]}).status_code == 422
