"""How many labelled rows an institution needs: the learning curve of `yuqing train sentiment`.

    .venv/bin/python benchmarks/learning_curve.py [--data DIR] [--sizes 500,1000,2000] [--repeats 3]

A fifth of the distinct texts of each file (finnsp_train.jsonl, finfe_train.jsonl) is held out
once. For each size N, N rows of each file are drawn from the rest (seeded, `--repeats` draws),
written as the two files `yuqing train sentiment --data DIR` reads, trained on exactly as an
institution's own data would be (`nlp.train.train_sentiment`: cross-validated calibration, then
the final fit), and the model it writes is loaded by the real `Analyzer` and run on the held-out
texts. Last, the same on every remaining row. In the same run, the plain baselines: the training
rows' majority label (forum accuracy) and "every text is negative" (document F1).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nlp import AnalysisInput, Analyzer
from nlp.train import FINFE, FINNSP, train_sentiment


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _split(rows: list[dict[str, Any]], seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, held out): a fifth of the distinct texts held out, so no text is on both sides."""
    texts = sorted({r["text"] for r in rows})
    random.Random(seed).shuffle(texts)
    held = set(texts[: len(texts) // 5])
    return [r for r in rows if r["text"] not in held], [r for r in rows if r["text"] in held]


def _write(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    with (folder / name).open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(1, 2 * tp + fp + fn)


def evaluate(model: Path, forum: list[dict[str, Any]], news: list[dict[str, Any]]) -> dict[str, float]:
    analyzer = Analyzer(settings={"model": str(model)})
    forum_out = analyzer.analyze_batch([AnalysisInput(r["text"]) for r in forum], keywords=False)
    news_out = analyzer.analyze_batch([AnalysisInput(r["text"], r.get("title", ""), r["entities"]) for r in news],
                                      keywords=False)
    doc = ent = (0, 0, 0)
    for row, a in zip(news, news_out, strict=True):
        said = a.polarity == "negative"
        doc = (doc[0] + (said and row["negative"]), doc[1] + (said and not row["negative"]),
               doc[2] + (not said and row["negative"]))
        gold, chosen = set(row["negative_entities"]), set(a.negative_entities)
        ent = (ent[0] + len(gold & chosen), ent[1] + len(chosen - gold), ent[2] + len(gold - chosen))
    return {"forum_accuracy": sum(a.polarity == r["label"] for r, a in zip(forum, forum_out, strict=True)) / len(forum),
            "news_document_f1": _f1(*doc), "news_entity_f1": _f1(*ent)}


def _train_and_evaluate(forum: list[dict[str, Any]], news: list[dict[str, Any]], held_forum: list[dict[str, Any]],
                        held_news: list[dict[str, Any]], folds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "model"
        data.mkdir()
        _write(data, FINFE, forum)
        _write(data, FINNSP, news)
        with contextlib.redirect_stdout(io.StringIO()):  # the training's own figures are in-sample CV
            train_sentiment(data, out, folds, None)
        return evaluate(out, held_forum, held_news)


def baselines(forum: list[dict[str, Any]], held_forum: list[dict[str, Any]],
              held_news: list[dict[str, Any]]) -> dict[str, float]:
    labels = [r["label"] for r in forum]
    majority = max(set(labels), key=labels.count)
    positives = sum(r["negative"] for r in held_news)
    return {"forum_accuracy": sum(r["label"] == majority for r in held_forum) / len(held_forum),
            "news_document_f1": _f1(positives, len(held_news) - positives, 0)}


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    default = Path(os.environ.get("YUQING_TRAIN_DATA") or repo.parent / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--sizes", default="500,1000,2000", help="rows of each file per training set")
    parser.add_argument("--repeats", type=int, default=3, help="draws per size (their mean and range are shown)")
    parser.add_argument("--folds", type=int, default=5, help="calibration folds, as `yuqing train sentiment`")
    args = parser.parse_args()
    forum, held_forum = _split(_read(args.data / FINFE), seed=0)
    news, held_news = _split(_read(args.data / FINNSP), seed=0)
    print(f"held out: {len(held_forum)} forum rows, {len(held_news)} news rows; "
          f"training pool: {len(forum)} forum, {len(news)} news", flush=True)
    runs: list[tuple[str, int, int, list[dict[str, float]]]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        draws = []
        for seed in range(args.repeats):
            rng = random.Random(seed)
            draws.append(_train_and_evaluate(rng.sample(forum, min(size, len(forum))),
                                             rng.sample(news, min(size, len(news))), held_forum, held_news,
                                             args.folds))
            print(f"  {size} rows, draw {seed + 1}: {json.dumps(draws[-1])}", flush=True)
        runs.append((str(size), min(size, len(forum)), min(size, len(news)), draws))
    start = time.perf_counter()
    runs.append(("all", len(forum), len(news), [_train_and_evaluate(forum, news, held_forum, held_news, args.folds)]))
    print(f"  all rows: {json.dumps(runs[-1][3][0])} ({time.perf_counter() - start:.0f} s)", flush=True)
    base = baselines(forum, held_forum, held_news)
    print("\n| rows of each file | forum rows | news rows | forum accuracy | document F1 | entity F1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, n_forum, n_news, draws in runs:
        cells = []
        for key in ("forum_accuracy", "news_document_f1", "news_entity_f1"):
            values = [d[key] for d in draws]
            spread = f" ({min(values):.3f}–{max(values):.3f})" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.3f}{spread}")
        print(f"| {label} | {n_forum} | {n_news} | {' | '.join(cells)} |")
    print(f"| baseline: majority label / every text negative | | | {base['forum_accuracy']:.3f} | "
          f"{base['news_document_f1']:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
