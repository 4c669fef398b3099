"""The honest figures of the sentiment and target models, with the plain baseline beside them
(the ones in the model card, README.md).

    .venv/bin/python benchmarks/eval_sentiment.py [--data DIR] [--folds 5]

Runs the procedure of `yuqing train sentiment` without writing a model: near-duplicate clusters,
a fifth of them held back, cluster-grouped k-fold cross-validation on the rest (what tuning may
look at), then one model trained on the rest and scored on the held-back part (what nothing was
tuned on). In the same run, on the same splits, the plain baseline: jieba words and word bigrams,
TF-IDF, logistic regression (scikit-learn defaults), one model per file on the plain text, scored
on the held-back part and, fold by fold, by the same cluster-grouped cross-validation of the
development part (the figure tuning may compare with; one held-back fold of 799 texts is not).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp.train import SEED, ForumRow, NewsRow, Split, _folds, evaluate, extra_rows, load_forum, load_news, splits


def _words(text: str) -> list[str]:
    import jieba

    words = [w for w in jieba.lcut(text) if w.strip()]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _baseline(train: Sequence[str], y: Sequence[int], test: Sequence[str]) -> Any:
    """The baseline's predictions for `test`, trained on `train` labelled `y`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=_words)
    model = LogisticRegression(max_iter=2000, random_state=SEED).fit(vectorizer.fit_transform(train), y)
    return model.predict(vectorizer.transform(test))


def baseline(forum: Sequence[ForumRow], news: Sequence[NewsRow], forum_split: Split,
             news_split: Split) -> dict[str, float]:
    """The plain baseline trained on the development parts, scored on the held-back parts."""
    from sklearn.metrics import accuracy_score, f1_score

    def part(rows: Sequence[Any], indices: Sequence[int]) -> list[Any]:
        return [rows[i] for i in indices]

    f_dev, f_held = part(forum, forum_split.dev), part(forum, forum_split.held)
    n_dev, n_held = part(news, news_split.dev), part(news, news_split.held)
    f_pred = _baseline([r.doc.text for r in f_dev], [r.label for r in f_dev], [r.doc.text for r in f_held])
    n_pred = _baseline([r.doc.text for r in n_dev], [int(r.negative) for r in n_dev], [r.doc.text for r in n_held])
    # The same baseline with the entity names masked, as the model sees them: what the names give it.
    masked = _baseline([r.doc.masked for r in n_dev], [int(r.negative) for r in n_dev], [r.doc.masked for r in n_held])
    f_gold, n_gold = [r.label for r in f_held], [int(r.negative) for r in n_held]
    return {"forum_accuracy": round(float(accuracy_score(f_gold, f_pred)), 4),
            "forum_macro_f1": round(float(f1_score(f_gold, f_pred, average="macro")), 4),
            "news_document_f1": round(float(f1_score(n_gold, n_pred)), 4),
            "news_document_f1_names_masked": round(float(f1_score(n_gold, masked)), 4)}


def baseline_cv(forum: Sequence[ForumRow], news: Sequence[NewsRow], forum_split: Split, news_split: Split,
                k: int) -> dict[str, Any]:
    """The plain baseline by the cross-validation `nlp.train.cross_validate` runs on the development
    parts (the same cluster-grouped folds): overall, and the document F1 of each fold."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    def out_of_fold(rows: Sequence[Any], split: Split, label: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        dev = [rows[i] for i in split.dev]
        y = np.array([label(r) for r in dev])
        folds = _folds([split.clusters[i] for i in split.dev], list(y), k)
        pred = np.zeros(len(dev), dtype=int)
        for train, test in folds:
            pred[test] = _baseline([dev[i].doc.text for i in train], y[train], [dev[i].doc.text for i in test])
        return y, pred, folds

    fy, fp, _ = out_of_fold(forum, forum_split, lambda r: r.label)
    ny, npred, folds = out_of_fold(news, news_split, lambda r: int(r.negative))
    return {"forum_accuracy": round(float(accuracy_score(fy, fp)), 4),
            "forum_macro_f1": round(float(f1_score(fy, fp, average="macro")), 4),
            "news_document_f1": round(float(f1_score(ny, npred)), 4),
            "news_document_f1_by_fold": [round(float(f1_score(ny[t], npred[t])), 4) for _, t in folds]}


def data_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with `--data`: the training files' folder, by default ../shared/data or $YUQING_TRAIN_DATA."""
    repo = Path(__file__).resolve().parent.parent
    default = Path(os.environ.get("YUQING_TRAIN_DATA") or repo.parent / "shared" / "data")
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default)
    return parser


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--with-probes", action="store_true",
                        help="probe sets A and C join the training, as `yuqing train sentiment --with-probes`")
    parser.add_argument("--baseline-only", action="store_true",
                        help="only the baseline (the model's figures are also printed by `yuqing train sentiment`)")
    args = parser.parse_args()
    start = time.perf_counter()
    forum, news = load_forum(args.data), load_news(args.data)
    forum_split, news_split = splits(forum, news)
    figures: dict[str, Any] = {}
    if not args.baseline_only:
        result = evaluate(forum, news, args.folds, forum_split, news_split, extra=extra_rows(args.with_probes))
        figures = {"cross_validated": result.cv, "held_back": result.held_back}
    figures["baseline_cross_validated"] = baseline_cv(forum, news, forum_split, news_split, args.folds)
    figures["baseline_held_back"] = baseline(forum, news, forum_split, news_split)
    figures["held_back_rows"] = {"forum": len(forum_split.held), "news": len(news_split.held)}
    figures["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
