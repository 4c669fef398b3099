"""Cross-validated figures of the sentiment and target models (the ones in the model card, README.md).

    .venv/bin/python benchmarks/eval_sentiment.py [--data DIR] [--folds 5] [--ungrouped]

Runs the same k-fold procedure as `yuqing train sentiment` (same features, regularisation,
calibration and decision rules) without writing a model. Folds are grouped by text by default,
so a post that occurs twice in the data is never in training and test at once; `--ungrouped`
shows the figure a plain random split gives, for comparison with published results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from nlp.train import calibrate, cross_validate, load_forum, load_news, metrics


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    default = Path(os.environ.get("YUQING_TRAIN_DATA") or repo.parent / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--ungrouped", action="store_true", help="random folds (duplicates may straddle them)")
    args = parser.parse_args()
    start = time.perf_counter()
    forum, news = load_forum(args.data), load_news(args.data)
    oof = cross_validate(forum, news, args.folds, grouped=not args.ungrouped)
    figures = metrics(oof, calibrate(oof, forum, news), forum, news)
    figures["folds"] = f"{args.folds}, {'random' if args.ungrouped else 'grouped by text'}"
    figures["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
