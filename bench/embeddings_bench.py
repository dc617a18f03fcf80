"""Sentence embeddings for the end model: speed of each model and accuracy of each feature set.

1. Speed, both models on the same texts in the same process (models loaded beforehand, no
   cache): items/s of the full all-MiniLM-L6-v2 (sentence-transformers) and of the static
   model2vec model distilled from it, their ratio, and the hours each would take at 1M items.
2. Accuracy of the end model (``hitl_triage.endmodel.out_of_fold_probs``, text features only,
   no votes) trained on 10 % random gold labels, scored on the other 90 %, mean over seeds, for
   ``tfidf`` (the baseline), ``embeddings`` and ``tfidf+embeddings`` with each model, on WRENCH
   youtube, sms, trec, chemprot (train split) and COSINE AG News (dev split); ``--max-n``
   takes a uniform sample of each set (MiniLM embeds a few to a few tens of items/s here).

Embeddings are cached by text hash in ``--cache-dir`` (a re-run embeds nothing); the first run
embeds every text once with MiniLM, which takes minutes on 2 cores.

    python bench/embeddings_bench.py --max-n 1500
    python bench/embeddings_bench.py --sets youtube trec --seeds 0 1 2 --speed-n 300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from hitl_triage.embeddings import embed, load_encoder, model_cache_dir  # noqa: E402
from hitl_triage.endmodel import combine_features, out_of_fold_probs, text_features  # noqa: E402
from hitl_triage.round_settings import ConfidenceConfig  # noqa: E402

DATA = Path(os.environ.get("HITL_TRIAGE_SHARED_DATA", REPO.parent / "shared" / "data"))
if not (DATA / "wrench").is_dir():
    DATA = Path("/work/shared/data")
WRENCH = ("youtube", "sms", "trec", "chemprot")
VARIANTS = (("tfidf", "tfidf", "minilm"),
            ("emb minilm", "embeddings", "minilm"), ("tfidf+minilm", "tfidf+embeddings", "minilm"),
            ("emb static", "embeddings", "static"), ("tfidf+static", "tfidf+embeddings", "static"))


def load_set(name: str, *, max_n: int | None) -> tuple[list[str], np.ndarray]:
    """Texts and gold labels of one shared set, a uniform sample of at most ``max_n`` (gold
    labels only score, and train the 10 % that are "labeled")."""
    if name in WRENCH:
        records = list(json.loads((DATA / "wrench" / name / "train.json").read_text(encoding="utf-8")).values())
        rows = [{"text": r["data"]["text"], "label": r["label"]} for r in records]
    else:
        rows = json.loads((DATA / "cosine" / name / "dev_data.json").read_text(encoding="utf-8"))
    pick = np.arange(len(rows))
    if max_n is not None and len(rows) > max_n:
        pick = np.sort(np.random.default_rng(0).choice(len(rows), size=max_n, replace=False))
    return [rows[i]["text"] for i in pick], np.array([rows[i]["label"] for i in pick], dtype=np.int64)


def speed(texts: list[str]) -> dict[str, float]:
    """Items/s of each model on ``texts`` (loaded first, nothing cached)."""
    out = {}
    for model in ("minilm", "static"):
        encoder = load_encoder(model)
        embed(texts[:16], encoder=encoder)  # warm-up
        start = time.perf_counter()
        embed(texts, encoder=encoder)
        out[model] = len(texts) / (time.perf_counter() - start)
    return out


def accuracy(texts: list[str], gold: np.ndarray, settings: ConfidenceConfig, *, seeds: list[int],
             cache_dir: Path, share: float) -> float:
    """Mean accuracy over seeds on the 90 % not labeled, end model trained on ``share`` gold."""
    X_text = text_features(texts, settings=settings, cache_dir=cache_dir)
    k = int(gold.max()) + 1
    X = combine_features(X_text, np.zeros((len(texts), 0), dtype=np.int8), settings=settings, n_classes=k)
    scores = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        labeled = rng.random(len(texts)) < share
        labels = np.where(labeled, gold, -1)
        probs = out_of_fold_probs(X, labels, labeled.astype(np.float64), n_classes=k,
                                  settings=settings, random_state=seed)
        scores.append(float((probs.argmax(axis=1)[~labeled] == gold[~labeled]).mean()))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=[*WRENCH, "agnews"])
    parser.add_argument("--max-n", type=int, default=None,
                        help="at most this many items per set (uniform sample, seed 0); default all")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--share", type=float, default=0.1, help="share of items with a gold label")
    parser.add_argument("--speed-n", type=int, default=500, help="texts timed per model")
    parser.add_argument("--weight", type=float, default=1.0, help="confidence.embedding_weight")
    parser.add_argument("--cache-dir", type=Path, default=model_cache_dir() / "bench-embeddings")
    args = parser.parse_args()

    data = {name: load_set(name, max_n=args.max_n) for name in args.sets}
    mixed = [t for texts, _ in data.values() for t in texts[: max(1, args.speed_n // len(data))]]
    rate = speed(mixed)
    print(f"speed on {len(mixed)} texts ({', '.join(args.sets)}; {os.cpu_count()} cores, torch "
          f"threads capped), same run:")
    for model, per_s in rate.items():
        print(f"  {model:<7} {per_s:9.1f} items/s   1M items: {1e6 / per_s / 3600:7.2f} h")
    print(f"  static / minilm: {rate['static'] / rate['minilm']:.0f}x")

    print(f"\nend-model accuracy, {args.share:.0%} random gold labels, rest scored, mean of seeds "
          f"{args.seeds}, text features only, embedding_weight {args.weight}:")
    header = f"{'set':<10}{'n':>7}" + "".join(f"{label:>15}" for label, _, _ in VARIANTS)
    print(header)
    for name, (texts, gold) in data.items():
        start = time.perf_counter()
        row = f"{name:<10}{len(texts):>7}"
        for _, features, model in VARIANTS:
            settings = ConfidenceConfig(features=features, embedding_model=model,
                                        embedding_weight=args.weight, vote_features=False)
            row += f"{accuracy(texts, gold, settings, seeds=args.seeds, cache_dir=args.cache_dir, share=args.share):>15.3f}"
        print(row + f"   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
