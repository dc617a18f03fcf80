"""Scale: wall time, CPU time and peak memory per stage at 10k / 100k / 1M items.

The sets are AG News texts (``../shared/data/cosine/agnews``, dev + test) repeated to size with
unique ids, with 20 LFs: 18 keyword expression LFs (the COSINE keyword lists, each split in
two) and 2 snorkel row LFs; a 3-round schedule at a 10 % budget; reviewers simulated from the
gold column. Per stage (apply, label, each round, baselines, export) it prints wall seconds,
CPU seconds and the process's peak RSS so far, then the growth per 10x items.

Each size runs in its own process (so peak RSS is that size's). ``--baseline REF`` runs the
same sizes through the code at git revision REF too (a temporary worktree) and prints the
ratio of total wall times side by side; sizes that exceed ``--baseline-timeout`` are reported
as such.

    python bench/scale.py                              # 10k, 100k, 1M
    python bench/scale.py --sizes 10000 100000 --baseline a097e18 --baseline-timeout 900
    python bench/scale.py --label-model snorkel        # the label model to use (default majority)
    python bench/scale.py --engine ray                 # the same table on a local Ray cluster
    python bench/scale.py --engine ray --address HOST:PORT   # ... on a running Ray cluster

With ``--engine ray`` and no ``--address``, a throwaway two-node cluster is started on this
machine (head + one worker node, ``--ray-cpus`` CPUs each, bound to 127.0.0.1) for the whole
run and stopped at the end. Peak RSS is the driver's: what it must hold while the cluster
applies the LFs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AGNEWS = next((d for d in (Path(os.environ.get("HITL_TRIAGE_SHARED_DATA", REPO.parent / "shared" / "data")),
                           Path("/work/shared/data")) if (d / "cosine" / "agnews").is_dir()),
              REPO.parent / "shared" / "data") / "cosine" / "agnews"
LABELS = ["World", "Sports", "Business", "SciTech"]
KEYWORDS = {  # label index -> the COSINE keyword lists for it (LFS.md), abridged
    0: [["atomic", "captives", "baghdad", "israeli", "iraqis", "iranian", "afghanistan", "terrorism",
         "soldiers", "palestinian", "iraqi", "terrorist", "korea", "israel", "egypt", "iran", "iraq",
         "nato", "armed", "peace"],
        ["war", "prime minister", "president", "commander", "minister", "annan", "military",
         "militant", "kill"]],
    1: [["goals", "coaches", "touchdowns", "rankings", "champ", "hockey", "champions",
         "quarterback", "club", "team", "baseball", "basketball", "soccer", "football", "boxing",
         "world cup", "nba", "olympics", "final", "finals", "fifa"],
        ["athlete", "striker", "defender", "goalkeeper", "midfielder", "pitcher", "catcher",
         "shortstop", "fielder", "lakers", "chelsea", "yankees", "red sox", "arsenal",
         "real madrid", "barcelona", "juventus"]],
    2: [["delta", "cola", "toyota", "costco", "gucci", "citibank", "airlines", "wal-mart", "ibm"],
        ["economy", "stock", "stocks", "shares", "profit", "profits", "earnings", "oil", "prices",
         "market", "markets", "investors", "quarter", "sales", "bank"]],
    3: [["technology", "engineering", "science", "research", "cpu", "windows", "unix", "system",
         "computing", "compute", "internet", "software", "microsoft", "apple", "google"],
        ["nasa", "space", "mars", "planet", "scientists", "study", "researchers", "web", "online",
         "wireless", "mobile", "phone", "virus", "spam"]],
}


def lf_module() -> str:
    """18 keyword expression LFs (each list split in two, then the halves of two lists once
    more) and 2 row LFs."""
    lines = ["from hitl_triage.lf import ABSTAIN, keyword_lf, labeling_function", ""]
    count = 0
    for label, lists in KEYWORDS.items():
        for j, words in enumerate(lists):
            half = len(words) // 2
            for part, chunk in enumerate((words[:half], words[half:])):
                lines.append(f"kw_{label}_{j}_{part} = keyword_lf('kw_{label}_{j}_{part}', {chunk!r}, {label})")
                count += 1
    extra = [(0, ["government", "election"]), (3, ["computer", "digital"])]
    for label, words in extra:
        lines.append(f"kw_{label}_extra = keyword_lf('kw_{label}_extra', {words!r}, {label})")
        count += 1
    assert count == 18
    lines += [
        "",
        "@labeling_function()",
        "def row_sports_score(x):",
        "    text = (x.text or '').lower()",
        "    return 1 if ' beat ' in text or ' win ' in text else ABSTAIN",
        "",
        "@labeling_function()",
        "def row_company(x):",
        "    text = x.text or ''",
        "    return 2 if ' Inc.' in text or ' Corp.' in text else ABSTAIN",
        "",
    ]
    return "\n".join(lines)


def build_task(root: Path, n: int, label_model: str, engine: str | None,
               address: str | None = None) -> Path:
    """Write the n-item set, the LF module and the config under ``root``; return the config."""
    import polars as pl

    records = []
    for name in ("dev_data.json", "test_data.json"):
        records += json.loads((AGNEWS / name).read_text(encoding="utf-8"))
    base = pl.DataFrame({"text": [r["text"] for r in records], "label": [int(r["label"]) for r in records]})
    reps = -(-n // base.height)
    frame = pl.concat([base] * reps).head(n).with_row_index("rid")
    frame = frame.select(pl.format("a{}", pl.col("rid")).alias("id"), "text", "label")
    frame.write_parquet(root / "items.parquet")
    (root / "lfs.py").write_text(lf_module(), encoding="utf-8")
    config = {
        "task": "agnews_scale",
        "labels": [{"name": name, "description": f"News about {name}."} for name in LABELS],
        "dataset": {"path": "items.parquet", "id_field": "id", "text_field": "text", "gold_field": "label"},
        "lfs": {"modules": ["lfs.py"], "n_jobs": 2},
        "label_model": {"kind": label_model},
        "confidence": {"char_ngrams": None},
        "curriculum": {"total_budget": 0.1, "schedule": [0.4, 0.3, 0.3]},
        "run_dir": "run",
    }
    if engine == "ray":
        config["engine"] = {"kind": "ray", "address": address}
    import yaml

    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Meter:
    """Wall, CPU (this process and its children) and peak RSS at each mark."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()

    @staticmethod
    def _cpu_now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def mark(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), self._cpu_now()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.rows.append({"stage": stage, "wall_s": wall - self._wall, "cpu_s": cpu - self._cpu,
                          "peak_rss_mb": peak_mb})
        self._wall, self._cpu = wall, cpu


def run_size(n: int, label_model: str, engine: str | None, whole: bool,
             address: str | None = None) -> list[dict]:
    """Run every stage on an n-item set in this process; return the meter's rows."""
    os.environ.setdefault("HITL_TRIAGE_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix=f"hitl-scale-{n}-") as tmp:
        path = build_task(Path(tmp), n, label_model, engine, address)
        from hitl_triage.config import load_config
        from hitl_triage.simulate import simulate

        meter = Meter()
        config = load_config(path)
        if whole:  # one timed call, for code without per-stage entry points
            simulate(config, budget=0.1, seed=0, out_dir=Path(tmp) / "sim")
            meter.mark("simulate (all stages)")
            return meter.rows
        from hitl_triage.pipeline import run_apply, run_export, run_label

        run_apply(config)
        meter.mark("apply")
        run_label(config)
        meter.mark("label")
        last = {"round": -1}

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "rounds" and done != last["round"]:
                if last["round"] >= 0:
                    meter.mark(f"round {last['round']}")
                else:
                    meter.mark("prepare (features)")
                last["round"] = done
            elif stage == "baselines" and done == 0:
                meter.mark(f"round {last['round']} + final labels")

        summary = simulate(config, budget=0.1, seed=0, out_dir=Path(tmp) / "sim", progress=progress)
        meter.mark("baselines (evaluation only)")
        run_export(config, fmt="parquet", out=Path(tmp) / "export" / "train.parquet")
        meter.mark("export")
        meter.rows.append({"stage": "trainset accuracy", "value": summary["trainset_accuracy"]})
        return meter.rows


def child(args: argparse.Namespace, n: int, code_root: Path, whole: bool, timeout: float | None) -> list[dict] | str:
    """Run one size in a fresh process with ``code_root`` first on the path."""
    cmd = [sys.executable, __file__, "--one", str(n), "--label-model", args.label_model]
    if args.engine:
        cmd += ["--engine", args.engine]
    if args.address:
        cmd += ["--address", args.address]
    if whole:
        cmd.append("--whole")
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout:.0f} s"
    if out.returncode != 0:
        return "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(n: int, rows: list[dict] | str, title: str) -> None:
    print(f"\n{title}, {n:,} items")
    if isinstance(rows, str):
        print(f"  {rows}")
        return
    print(f"  {'stage':28} {'wall s':>9} {'cpu s':>9} {'peak RSS MB':>12}")
    for row in rows:
        if "value" in row:
            print(f"  {row['stage']:28} {row['value']:>9.4f}")
        else:
            print(f"  {row['stage']:28} {row['wall_s']:>9.2f} {row['cpu_s']:>9.2f} {row['peak_rss_mb']:>12.0f}")
    total = sum(r.get("wall_s", 0.0) for r in rows)
    print(f"  {'total':28} {total:>9.2f}")


def total_wall(rows: list[dict] | str) -> float | None:
    return None if rows is None or isinstance(rows, str) else sum(r.get("wall_s", 0.0) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--label-model", default="majority")
    parser.add_argument("--engine", choices=["local", "ray"], default=None)
    parser.add_argument("--address", help="--engine ray: a running cluster's HOST:PORT "
                        "(default: start a local two-node cluster for the run)")
    parser.add_argument("--ray-cpus", type=int, default=1, help="CPUs per local Ray node")
    parser.add_argument("--baseline", metavar="REF", help="also run the code at this git revision")
    parser.add_argument("--baseline-timeout", type=float, default=900.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_size(args.one, args.label_model, args.engine, args.whole, args.address)))
        return
    cluster = None
    if args.engine == "ray" and not args.address:
        from hitl_triage.distributed.cluster import LocalCluster

        cluster = LocalCluster(n_workers=1, num_cpus=args.ray_cpus, object_store_memory=500_000_000)
        cluster.start()
        args.address = cluster.address
        print(f"local Ray cluster at {cluster.address}: head + 1 worker node, {args.ray_cpus} CPU each")
    try:
        _run_all(args)
    finally:
        if cluster is not None:
            cluster.stop()


def _run_all(args: argparse.Namespace) -> None:
    baseline_root: Path | None = None
    tmp = tempfile.TemporaryDirectory(prefix="hitl-scale-baseline-")
    if args.baseline:
        baseline_root = Path(tmp.name) / "code"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(baseline_root),
                        args.baseline], check=True)
    try:
        totals: dict[int, tuple[float | None, float | None]] = {}
        for n in args.sizes:
            ours = child(args, n, REPO, whole=False, timeout=None)
            print_table(n, ours, "this code")
            base = None
            if baseline_root is not None:
                base = child(args, n, baseline_root, whole=True, timeout=args.baseline_timeout)
                print_table(n, base, f"baseline {args.baseline} (one call)")
            totals[n] = (total_wall(ours), total_wall(base))
        print("\ntotal wall seconds, growth per 10x items, and speed-up over the baseline")
        previous = None
        for n, (ours, base) in totals.items():
            growth = f"{ours / previous:.1f}x" if ours and previous else "-"
            speed = f"{base / ours:.1f}x" if ours and base else "-"
            print(f"  {n:>10,}  ours {ours if ours is None else round(ours, 1)!s:>8}  growth {growth:>6}  "
                  f"baseline {base if base is None else round(base, 1)!s:>8}  speed-up {speed}")
            previous = ours
    finally:
        if baseline_root is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_root)],
                           check=False)
        tmp.cleanup()


if __name__ == "__main__":
    main()
