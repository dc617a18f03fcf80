"""The LF workbench page and JSON API on a real ``hitl-triage serve``, and in a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hitl_triage.config import load_config
from hitl_triage.lf.sources import suggested_module
from tests.review.loadgen import background_server
from tests.store.support import cli
from tests.workbench_support import LF_SOURCE, XSS, workbench_task

CHROMIUM = Path("/usr/bin/chromium")
ACCOUNTS = {"boss": ("admin", "boss-password"), "wendy": ("writer", "wendy-password"),
            "ann": ("reviewer", "ann-password")}


class WSite:
    def __init__(self, base: str, config_path: Path, tokens: dict[str, str]) -> None:
        self.base, self.config_path, self.tokens = base, config_path, tokens

    def api(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def wsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WSite]:
    config_path = workbench_task(tmp_path_factory.mktemp("workbench"), review={"gold_rate": 0.0})
    tokens = {}
    for name, (role, password) in ACCOUNTS.items():
        done = cli("reviewers", "add", str(config_path), name, "--role", role, "--password-stdin", stdin=password + "\n")
        assert done.returncode == 0, done.stderr
        tokens[name] = re.search(r"API token: (\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    with background_server(config_path) as base:
        yield WSite(base, config_path, tokens)


def test_api_roles_report_items_and_accept(wsite: WSite) -> None:
    with wsite.api(None) as anonymous:
        assert anonymous.get("/api/v1/lf").status_code == 401
    with wsite.api("ann") as reviewer:
        assert reviewer.get("/api/v1/lf").status_code == 403
    with wsite.api("wendy") as writer:
        got = writer.get("/api/v1/lf")
        assert got.status_code == 200, got.text
        body = got.json()
        assert [r["source"] for r in body["lfs"]] == ["link", "song"] and body["n_human"] == 50
        song = next(r for r in body["lfs"] if r["source"] == "song")
        assert song["n_wrong"] == 1 and song["accuracy_low"] < song["accuracy"] < song["accuracy_high"]
        assert body["trainset_estimate"]["basis"] == "audit" and body["suggestions"]
        items = writer.get("/api/v1/lf/items", params={"kind": "wrong", "lf": "song"}).json()
        assert items["total"] == 1 and items["items"][0]["text"] == XSS  # JSON carries the text as is
        assert writer.get("/api/v1/lf/items", params={"kind": "uncovered", "q": "prize 12"}).json()["total"] == 1
        assert writer.post("/api/v1/lf/accept", json={"name": "nope"}).status_code == 404
        name = body["suggestions"][-1]["name"]
        done = writer.post("/api/v1/lf/accept", json={"name": name})
        assert done.status_code == 201, done.text
        assert done.json()["recomputed"] == [name]
        assert name in suggested_module(load_config(wsite.config_path)).read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield chromium
        chromium.close()


def login(browser, site: WSite, who: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(f"{site.base}/login")
    page.fill("input[name=name]", who)
    page.fill("input[name=password]", ACCOUNTS[who][1])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return page


@pytest.mark.browser
def test_writer_works_the_page_in_chromium(browser, wsite: WSite) -> None:
    page = login(browser, wsite, "wendy")
    page.goto(f"{wsite.base}/lf")
    assert page.locator("#lf-table tbody tr").count() >= 2
    assert "estimated training-set accuracy" in page.inner_text("#estimate")
    # the song LF's wrong item: untrusted text shows as text, nothing runs
    page.click("#lf-table a:text-is('song')")
    assert "lf=song" in page.url
    assert page.locator("#items td.text").first.inner_text() == XSS
    assert page.locator("#items img, #items script").count() == 0
    assert page.evaluate("window.__pwned") is None
    # search and the uncovered tab
    page.click("#tabs a:text('Uncovered')")
    assert page.locator(".by-label").count() >= 1
    page.fill("#search input[name=q]", "prize 12")
    with page.expect_navigation():
        page.click("#search button")
    assert page.locator("#items tbody tr").count() == 1 and "prize 12" in page.inner_text("#items")
    # accept the best suggestion: it is appended and only it runs; the page says what moved
    page.click("#tabs a:text('Suggestions')")
    first = page.locator("#suggestions tbody tr").first
    name = first.get_attribute("data-name")
    with page.expect_navigation():
        first.locator("button").click()
    assert f"added {name}" in page.inner_text("#notice") and f"({name})" in page.inner_text("#notice")
    assert name in page.inner_text("#moved") and "added" in page.inner_text("#moved")
    # an edit of the task's LF file shows on the next load, with the LF's coverage before and after
    lf_file = wsite.config_path.parent / "lfs" / "task_lfs.py"
    lf_file.write_text(LF_SOURCE.replace('["song"]', '["song", "video"]'))
    page.goto(f"{wsite.base}/lf")
    moved = page.inner_text("#moved")
    assert "song" in moved and "changed" in moved and "→" in page.inner_text("#moved-trainset")
    assert "recomputed: song" in page.inner_text("#estimate")
    # a POST without the CSRF token is refused, and a reviewer cannot see the page
    assert page.request.post(f"{wsite.base}/lf/accept", form={"name": name}).status == 403
    page.close()
    reviewer = login(browser, wsite, "ann")
    response = reviewer.goto(f"{wsite.base}/lf")
    assert response is not None and response.status == 403
    reviewer.close()
