"""The team features over real HTTP against ``hitl-triage serve``, on SQLite and on a real
PostgreSQL: the flag queue and dispute walk, reviewer statistics, history search with relabel;
admins only where it says so (reviewers get 403)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.review.conftest import Site, start_site
from tests.review.test_api import login

ITEMS = {"t-1": "<b>bold</b> 50%_off", "t-2": "plain words", "t-3": "banana 50 off"}


@pytest.fixture
def tsite(tmp_path: Path, backend_url: str | None) -> Iterator[Site]:
    review = {"gold_rate": 0.0, "overlap": {"review": 2, "audit": 1}}
    if backend_url is not None:
        review["database_url"] = backend_url
    yield from start_site(tmp_path, review)


def _answer_all(http: httpx.Client, answers: dict[str, dict[str, object]]) -> dict[str, int]:
    """Answer every task the reviewer is given by item id; returns item id → task id."""
    ids = {}
    while (task := http.get("/api/v1/tasks/next")).status_code == 200:
        body = task.json()
        ids[body["item_id"]] = body["task_id"]
        sent = http.post("/api/v1/answers", json={"id": str(uuid.uuid4()), "task_id": body["task_id"], **answers[body["item_id"]]})
        assert sent.status_code == 201, sent.text
    return ids


def test_flag_queue_walk_stats_and_search(tsite: Site):
    tsite.push([{"id": k, "text": v, "route": "review", "round": 0, "priority": float(-i)} for i, (k, v) in enumerate(ITEMS.items())])
    with tsite.api("ann") as ann, tsite.api("bob") as bob, tsite.api("boss") as boss:
        task = _answer_all(ann, {"t-1": {"label": 0}, "t-2": {"kind": "flag", "comment": "<i>unclear</i>"}, "t-3": {"label": 1}})
        _answer_all(bob, {"t-1": {"label": 1}, "t-2": {"label": 0}, "t-3": {"label": 1}})

        # reviewers: 403 on every admin endpoint and page
        for path in ("/api/v1/flags/open", "/api/v1/stats", "/api/v1/disputes/next"):
            assert ann.get(path).status_code == 403, path
            assert httpx.get(tsite.base + path).status_code == 401
        http, _csrf = login(tsite, "ann")
        for path in ("/admin/flags", "/admin/stats", "/admin/disputes/next"):
            assert http.get(path).status_code == 403, path

        (card,) = boss.get("/api/v1/flags/open").json()
        assert (card["item_id"], card["text"], card["status"]) == ("t-2", "plain words", "open")
        assert [(f["reviewer"], f["comment"]) for f in card["flags"]] == [("ann", "<i>unclear</i>")]
        assert [(a["reviewer"], a["kind"], a["label"]) for a in card["answers"]] == [("ann", "flag", None), ("bob", "label", 0)]

        # the walk: t-1 (disputed) then t-2 (flagged), wrapping round
        assert boss.get("/api/v1/disputes/next").json() == {"task_id": task["t-1"]}
        assert boss.get("/api/v1/disputes/next", params={"after": task["t-1"]}).json() == {"task_id": task["t-2"]}
        assert boss.get("/api/v1/disputes/next", params={"after": task["t-2"]}).json() == {"task_id": task["t-1"]}
        assert boss.post(f"/api/v1/tasks/{task['t-1']}/adjudicate", json={"label": 0}).status_code == 200
        assert boss.post(f"/api/v1/tasks/{task['t-2']}/resolve-flags", json={"comment": "fine"}).json()["resolved"] == 1
        assert boss.get("/api/v1/flags/open").json() == []
        assert boss.get("/api/v1/disputes/next").json() == {"task_id": None}

        stats = {s["reviewer"]: s for s in boss.get("/api/v1/stats").json()}
        assert (stats["ann"]["n_answers"], stats["ann"]["n_flags"], stats["ann"]["flag_rate"]) == (3, 1, pytest.approx(1 / 3))
        assert (stats["ann"]["n_adjudicated"], stats["ann"]["adjudicated_accuracy"]) == (1, 1.0)
        assert (stats["bob"]["n_adjudicated"], stats["bob"]["adjudicated_accuracy"], stats["bob"]["flag_rate"]) == (1, 0.0, 0.0)
        assert stats["ann"]["peers"] == [{"other": "bob", "n": 2, "percent": 0.5, "kappa": pytest.approx(0.0)}]
        assert stats["ann"]["n_timed"] == 2 and stats["ann"]["items_per_hour"] > 0
        assert boss.get("/api/v1/stats", params={"idle_seconds": 0}).status_code == 422

        # search: own answers only, % and _ match themselves, item ids too, paged
        found = ann.get("/api/v1/history", params={"q": "50%_"}).json()
        assert [h["item_id"] for h in found["hits"]] == ["t-1"] and found["total"] == 1 and found["hits"][0]["editable"]
        assert [h["item_id"] for h in ann.get("/api/v1/history", params={"q": "T-"}).json()["hits"]] == ["t-3", "t-2", "t-1"]
        paged = ann.get("/api/v1/history", params={"q": "t-", "limit": 2, "offset": 2}).json()
        assert (paged["total"], [h["item_id"] for h in paged["hits"]]) == (3, ["t-1"])
        assert [h["kind"] for h in bob.get("/api/v1/history", params={"q": "plain"}).json()["hits"]] == ["label"]
        for bad in ({"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "limit": 101}, {"q": "x" * 201}):
            assert ann.get("/api/v1/history", params=bad).status_code == 422, bad
        hit = ann.get("/api/v1/history", params={"q": "banana"}).json()["hits"][0]
        assert ann.post(f"/api/v1/answers/{hit['answer_id']}/edit", json={"new_id": "relabel-1", "label": 2}).status_code == 200

        # the page (no script): relabel from the results, back to them with a notice
        page = http.get("/review/history", params={"q": "bold"}).text
        assert "&lt;b&gt;bold&lt;/b&gt; 50%_off" in page and 'id="results"' in page
        answer_id = page.split('name="answer_id" value="', 1)[1].split('"', 1)[0]
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        done = http.post("/review/history/edit", data={"answer_id": answer_id, "new_answer_id": str(uuid.uuid4()), "label": "2", "q": "bold", "csrf_token": csrf})
        assert done.status_code == 303 and done.headers["location"] == "/review/history?q=bold&notice=Relabelled%3A+other"
        assert [h["label"] for h in ann.get("/api/v1/history", params={"q": "bold"}).json()["hits"]] == [2]

    admin, _ = login(tsite, "boss")
    assert "ann" in admin.get("/admin/stats").text and "No open flags." in admin.get("/admin/flags").text
