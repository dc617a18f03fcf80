"""Latency of the review screen in headless Chromium: key press -> next item on screen.

Two reviewers answer ``--items`` items each with the keyboard against a real ``hitl-triage
serve`` on loopback:

* **client** (the default page): the next item comes from the JSON API, prefetched while the
  reviewer reads; the answer is sent in the background.
* **full reload** (baseline, same run): each key submits the page's form and the server
  renders the next page (post/redirect/get), the page's behaviour before the client.

The time is measured inside the page, from the key event's timestamp to the first animation
frame that shows the next item (for the reload, to the first frame of the new document).
Afterwards the store is checked: every answer stored exactly once.

    python bench/review_latency.py                 # 50 items, 0.3 s reading time per item
    python bench/review_latency.py --items 100 --read 0.5

Needs Debian's chromium at /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test server helper lives with the tests (tests/review/loadgen.py)

from hitl_triage.config import load_config  # noqa: E402
from hitl_triage.store import open_store  # noqa: E402
from hitl_triage.store.models import Answer, Reviewer  # noqa: E402
from tests.review.loadgen import background_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-password"


def make_task(folder: Path, n_items: int) -> Path:
    data = {
        "task": "latency_bench",
        "labels": [{"name": "ham", "description": "genuine"}, {"name": "spam", "description": "promotion"}, {"name": "other", "description": "neither"}],
        "dataset": {"path": "data.csv", "id_field": "id", "text_field": "text"},
        "run_dir": "run",
        "review": {"gold_rate": 0.0},
    }
    texts = [f"Comment {i}: great video, check out my channel for more! " * (1 + i % 4) for i in range(n_items)]
    pl.DataFrame({"id": [f"i{i}" for i in range(n_items)], "text": texts}).write_csv(folder / "data.csv")
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    with open_store(config) as store:
        store.enqueue(pl.DataFrame({
            "id": [f"i{i}" for i in range(n_items)], "text": texts, "route": ["review"] * n_items, "round": [0] * n_items,
            "priority": [float(n_items - i) for i in range(n_items)], "suggested": [i % 3 for i in range(n_items)],
            "confidence": [0.5 + (i % 50) / 100 for i in range(n_items)],
            "votes": [json.dumps({"lf_link": 1, "lf_short": None, "judge": i % 3}) for i in range(n_items)],
            "judge_rationale": ["Mentions a channel; could be promotion."] * n_items,
        }))
        for name in ("client", "reload"):
            store.add_reviewer(name, password=PASSWORD)
    return path


def login(context, base: str, name: str):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    return page


def run_client(browser, base: str, n: int, read: float) -> list[float]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    page = login(context, base, "client")
    page.wait_for_selector("#review[data-ready]", state="attached")
    for i in range(n):
        time.sleep(read)  # the reviewer reads the item
        before = page.evaluate("() => document.getElementById('review').dataset.shown || '0'")
        page.keyboard.press(str(1 + i % 3))
        while page.evaluate("() => document.getElementById('review').dataset.shown || '0'") == before:
            time.sleep(0.005)
    deadline = time.monotonic() + 60
    while page.evaluate("() => document.getElementById('review').dataset.pending") != "0":
        if time.monotonic() > deadline:
            raise RuntimeError("answers still unsent after 60 s")
        time.sleep(0.05)
    time.sleep(0.1)  # the last frame's timing
    timings = page.evaluate("() => window.__reviewTimings")
    context.close()
    return timings


def run_reload(browser, base: str, n: int, read: float) -> list[float]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    page = login(context, base, "reload")
    page.evaluate("() => localStorage.setItem('hitl-review-mode', 'reload')")
    page.reload()
    for i in range(n):
        time.sleep(read)
        with page.expect_navigation():
            page.keyboard.press(str(1 + i % 3))
        page.wait_for_load_state("load")
    time.sleep(0.1)
    timings = page.evaluate("() => JSON.parse(sessionStorage.getItem('hitl-timings') || '[]')")
    context.close()
    return timings


def stored(config_path: Path) -> dict[str, tuple[int, int]]:
    """Per reviewer: (answers stored, distinct tasks answered)."""
    with open_store(load_config(config_path)) as store:
        rows = store.read(lambda s: s.execute(
            select(Reviewer.name, func.count(Answer.id), func.count(func.distinct(Answer.task_id)))
            .join(Reviewer, Reviewer.id == Answer.reviewer_id).group_by(Reviewer.name)
        ).all())
    return {name: (int(a), int(t)) for name, a, t in rows}


def quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), cuts[8], max(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=50, help="items answered per mode")
    parser.add_argument("--read", type=float, default=0.3, help="seconds spent reading each item")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="hitl-latency-") as tmp:
        config_path = make_task(Path(tmp), 2 * args.items + 10)
        with background_server(config_path) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                client = run_client(browser, base, args.items, args.read)
                reload = run_reload(browser, base, args.items, args.read)
            finally:
                browser.close()
        counts = stored(config_path)
    print(f"key press -> next item on screen, headless Chromium, loopback, {args.items} items per mode, {args.read} s reading time")
    print(f"{'mode':<24}{'n':>4}{'p50 ms':>10}{'p90 ms':>10}{'max ms':>10}{'stored':>8}")
    figures = {}
    for name, values in (("client (API, prefetch)", client), ("full reload (baseline)", reload)):
        p50, p90, top = quantiles(values)
        figures[name] = (p50, p90)
        who = "client" if name.startswith("client") else "reload"
        answers, tasks = counts.get(who, (0, 0))
        print(f"{name:<24}{len(values):>4}{p50:>10.1f}{p90:>10.1f}{top:>10.1f}{answers:>8}")
        if answers != args.items or tasks != args.items:
            print(f"  !! {who}: {answers} answers on {tasks} tasks, expected {args.items} each", file=sys.stderr)
    (c50, c90), (r50, r90) = figures.values()
    print(f"client / reload: p50 {c50 / r50:.2f}x, p90 {c90 / r90:.2f}x")
    ok = c50 <= 50 and c90 <= 100 and counts.get("client", (0, 0)) == (args.items, args.items)
    print("target p50 <= 50 ms, p90 <= 100 ms, every answer stored once:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
