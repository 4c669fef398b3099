"""Levers for the forum (finfe) model, measured as the model card's choices are made: on the
development part only, by cluster-grouped 5-fold cross-validation (`nlp.train`'s split and folds),
with the temperature and the confidence floor refitted on each lever's out-of-fold scores.

    nice .venv/bin/python benchmarks/forum_levers.py [--data DIR] [--random-folds] [--only a,b]
    nice .venv/bin/python benchmarks/forum_levers.py --held-back [--only shipped,tfidf_c3]

Each lever stays a linear model over the binary features the shipped model reads, so any of them
could be exported as one weight table (NB-LR's log-count ratios fold into its weights). For speed
the forum model alone is fitted, on a vocabulary built as `nlp.train.fit` builds it (the forum and
news rows of the training folds, min_df 2), so the `shipped` line repeats the model card's CV.
`--random-folds`: stratified folds that ignore the clusters, the kind of split where a post's
twin can be on the other side (like the graders' set, where the plain baseline ties the model).
The held-back part is not touched, except by `--held-back`: for the levers that are one model
(`SINGLE`), trained on the development part with the temperature and floor of their grouped
out-of-fold logits, scored once on the held-back part (the final check, not a figure to tune by).
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from eval_sentiment import _words, data_parser
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, recall_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import normalize as l2_normalize

from nlp.categories import CategoryRules
from nlp.sentiment import DEFAULT_EVIDENCE, POLARITIES, decide
from nlp.train import (
    C_FORUM,
    MIN_DF,
    PRUNE_BELOW,
    SEED,
    _doc_feats,
    _folds,
    _forum_probs,
    fit_floor,
    fit_temperature,
    load_forum,
    load_news,
    splits,
)

Folds = list[tuple[Any, Any]]
# A lever: (binary features, labels, row weights) → (weights V×3, bias 3), linear in the features.
Lever = Callable[[Any, Any, Any], tuple[Any, Any]]


class Data:
    def __init__(self, data: Path, random_folds: bool) -> None:
        forum, news = load_forum(data), load_news(data)
        forum_split, news_split = splits(forum, news)
        self.dev = np.array(forum_split.dev)
        self.texts = [forum[i].doc.text for i in self.dev]
        self.y = np.array([forum[i].label for i in self.dev])
        self.clusters = np.array([forum_split.clusters[i] for i in self.dev])
        rules = CategoryRules()
        self.evidence = [rules.assess(forum[i].doc.masked, forum[i].doc.negated, DEFAULT_EVIDENCE)[1] for i in self.dev]
        self.feats = [_doc_feats(forum[i].doc) for i in self.dev]
        news_dev = news_split.dev
        news_feats = [_doc_feats(news[i].doc) for i in news_dev]
        self.news_dev = news_feats
        held = forum_split.held
        self.held_y = np.array([forum[i].label for i in held])
        self.held_feats = [_doc_feats(forum[i].doc) for i in held]
        self.held_evidence = [rules.assess(forum[i].doc.masked, forum[i].doc.negated, DEFAULT_EVIDENCE)[1]
                              for i in held]
        news_folds = _folds([news_split.clusters[i] for i in news_dev], [int(news[i].negative) for i in news_dev], 5)
        self.news_train = [[news_feats[i] for i in train] for train, _ in news_folds]
        if random_folds:
            self.folds: Folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(self.feats, self.y))
        else:
            self.folds = _folds(self.clusters.tolist(), self.y.tolist(), 5)


def _identity(x: list[str]) -> list[str]:
    return x


def _prune(w: Any) -> Any:
    w[np.abs(w) < PRUNE_BELOW] = 0.0
    return w


def multinomial(c: float = C_FORUM, class_weight: str | None = None) -> Lever:
    def fit(x: Any, y: Any, w: Any) -> tuple[Any, Any]:
        m = LogisticRegression(C=c, max_iter=3000, random_state=SEED, class_weight=class_weight)
        m.fit(x, y, sample_weight=w)
        return _prune(m.coef_.T.copy()), m.intercept_
    return fit


def complement_nb(alpha: float = 0.3) -> Lever:
    """Complement naive Bayes (Rennie et al. 2003) on the binary features, its joint log-likelihood
    centred per row: linear in the features, so its average with another lever is one weight table."""
    def fit(x: Any, y: Any, w: Any) -> tuple[Any, Any]:
        weights = ComplementNB(alpha=alpha).fit(x, y, sample_weight=w).feature_log_prob_.T
        return weights - weights.mean(axis=1, keepdims=True), np.zeros(3)
    return fit


def _scaled(x: Any, train: Any, norm: str) -> Any:
    """The rows of `x` L2-normalised (`l2`), or weighed by the IDF over `train` first (`tfidf`,
    as `nlp.train.news_idf`): not linear in the binary features, so the scorer would need the
    text's norm (another output, as `document.bin` has for the news model)."""
    if norm == "tfidf":
        df = np.asarray((train > 0).sum(axis=0)).ravel()
        x = x @ sparse.diags(np.log((1 + train.shape[0]) / (1 + df)) + 1)
    return l2_normalize(x.astype(float)) if norm else x


def nb_lr(c: float) -> Lever:
    """NB-LR (Wang & Manning 2012, with logistic regression for the SVM), one-vs-rest: per class,
    the features scaled by their log-count ratio r (smoothing 1), then a binary model; the
    exported weight of a feature is w·r."""
    def fit(x: Any, y: Any, w: Any) -> tuple[Any, Any]:
        weights, bias = np.zeros((x.shape[1], 3)), np.zeros(3)
        for k in range(3):
            p = 1 + np.asarray(x[y == k].sum(0)).ravel()
            q = 1 + np.asarray(x[y != k].sum(0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum()))
            m = LogisticRegression(C=c, solver="liblinear", max_iter=3000, random_state=SEED)
            m.fit(x @ sparse.diags(r), (y == k).astype(int), sample_weight=w)
            weights[:, k], bias[k] = m.coef_[0] * r, m.intercept_[0]
        return _prune(weights), bias
    return fit


def out_of_fold(d: Data, lever: Lever, labels: Callable[[Any], Any] | None = None,
                weights: Callable[[Any], Any] | None = None, memory: float = 0.0, norm: str = "") -> Any:
    """Out-of-fold logits of a lever. `labels` / `weights`: from the training rows' indices;
    `memory`: a whole-text feature per training post at this value (0: none); `norm`: `_scaled`."""
    z = np.zeros((len(d.y), 3))
    for (train, test), news in zip(d.folds, d.news_train, strict=True):
        vectorizer = CountVectorizer(analyzer=_identity, binary=True, min_df=MIN_DF)
        x = vectorizer.fit_transform([d.feats[i] for i in train] + news)[:len(train)]
        x_test = vectorizer.transform([d.feats[i] for i in test])
        if memory:
            whole = CountVectorizer(analyzer=lambda t: ["Ｔ" + t], binary=True)
            x = sparse.hstack([x, memory * whole.fit_transform([d.texts[i] for i in train])]).tocsr()
            x_test = sparse.hstack([x_test, memory * whole.transform([d.texts[i] for i in test])]).tocsr()
        x, x_test = _scaled(x, x, norm), _scaled(x_test, x, norm)
        y = labels(train) if labels else d.y[train]
        w, b = lever(x, y, weights(train) if weights else np.ones(len(train)))
        z[test] = x_test @ w + b
    return z


def figures(d: Data, z: Any) -> dict[str, Any]:
    """The run-time decision (temperature, floor, complaint evidence) fitted on the out-of-fold logits."""
    t = fit_temperature(z, d.y.tolist())
    p = _forum_probs(z, t)
    floor = fit_floor(p, d.y.tolist())
    return {**_scores(d.y, _decisions(p, d.evidence, floor)), "temperature": t, "floor": round(floor, 2)}


def _decisions(p: Any, evidence: Any, floor: float = 0.0) -> list[int]:
    return [POLARITIES.index(decide(list(row), None, e, floor)[0]) for row, e in zip(p, evidence, strict=True)]


# The levers that are one model over the (perhaps scaled, `_scaled`) features: `--held-back` scores them.
SINGLE: dict[str, tuple[Callable[[], Lever], str]] = {
    "shipped": (multinomial, ""),
    "tfidf_c3": (lambda: multinomial(3.0), "tfidf"),
    "tfidf_c3_balanced": (lambda: multinomial(3.0, "balanced"), "tfidf"),
}


def held_back(d: Data, name: str) -> dict[str, Any]:
    """A `SINGLE` lever trained on the development part (the vocabulary built as `nlp.train.fit`
    builds it, from its forum and news rows), with the temperature and floor of its grouped
    out-of-fold logits, scored on the held-back part."""
    make, norm = SINGLE[name]
    z = out_of_fold(d, make(), norm=norm)
    t = fit_temperature(z, d.y.tolist())
    floor = fit_floor(_forum_probs(z, t), d.y.tolist())
    vectorizer = CountVectorizer(analyzer=_identity, binary=True, min_df=MIN_DF)
    x = vectorizer.fit_transform(d.feats + d.news_dev)[:len(d.feats)]
    w, b = make()(_scaled(x, x, norm), d.y, np.ones(len(d.y)))
    p = _forum_probs(_scaled(vectorizer.transform(d.held_feats), x, norm) @ w + b, t)
    return {**_scores(d.held_y, _decisions(p, d.held_evidence, floor)), "temperature": t, "floor": round(floor, 2)}


def _scores(y: Any, pred: Any) -> dict[str, Any]:
    return {"accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
            "recall": [round(float(v), 3) for v in recall_score(y, pred, labels=[0, 1, 2], average=None)]}


def class_bias(d: Data, z: Any) -> dict[str, Any]:
    """A logit bias for negative and positive (−0.6..0.6 by 0.1), chosen for macro-F1 on four
    folds' out-of-fold logits (at their temperature, no floor), then the floor refitted there, and
    both applied to the fifth fold (nested, so the figure is honest)."""
    grid = [round(-0.6 + 0.1 * i, 1) for i in range(13)]
    pred = np.zeros(len(d.y), dtype=int)
    for train, test in d.folds:
        t = fit_temperature(z[train], d.y[train].tolist())

        def macro(b: tuple[float, float], rows: Any = train, t: float = t) -> float:
            p = _forum_probs(z[rows] + np.array([b[0], 0.0, b[1]]), t)
            return float(f1_score(d.y[rows], _decisions(p, [d.evidence[i] for i in rows]), average="macro"))

        b0, b2 = max(((a, b) for a in grid for b in grid), key=macro)
        bias = np.array([b0, 0.0, b2])
        floor = fit_floor(_forum_probs(z[train] + bias, t), d.y[train].tolist())
        pred[test] = _decisions(_forum_probs(z[test] + bias, t), [d.evidence[i] for i in test], floor)
        print(f"  class bias chosen on four folds: negative {b0}, positive {b2}, floor {floor:.2f}", flush=True)
    return _scores(d.y, pred)


def baseline(d: Data) -> dict[str, Any]:
    """The model card's plain baseline (jieba words and bigrams, TF-IDF, LR defaults) on the same folds."""
    tokens = [_words(t) for t in d.texts]
    pred = np.zeros(len(d.y), dtype=int)
    for train, test in d.folds:
        vectorizer = TfidfVectorizer(analyzer=_identity)
        model = LogisticRegression(max_iter=2000, random_state=SEED)
        model.fit(vectorizer.fit_transform([tokens[i] for i in train]), d.y[train])
        pred[test] = model.predict(vectorizer.transform([tokens[i] for i in test]))
    return _scores(d.y, pred)


def cluster_majority(d: Data) -> Callable[[Any], Any]:
    """Each training post relabelled with its cluster's majority label (in the training folds), a tie kept."""
    def labels(train: Any) -> Any:
        votes: dict[int, Counter[int]] = defaultdict(Counter)
        for i in train:
            votes[d.clusters[i]][d.y[i]] += 1
        out = []
        for i in train:
            top = votes[d.clusters[i]].most_common(2)
            out.append(top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else d.y[i])
        return np.array(out)
    return labels


def cluster_agreement(d: Data) -> Callable[[Any], Any]:
    """Each training post weighted by the share of its cluster (in the training folds) that shares its label."""
    def weights(train: Any) -> Any:
        votes: dict[int, Counter[int]] = defaultdict(Counter)
        for i in train:
            votes[d.clusters[i]][d.y[i]] += 1
        return np.array([votes[d.clusters[i]][d.y[i]] / sum(votes[d.clusters[i]].values()) for i in train])
    return weights


def cluster_once(d: Data) -> Callable[[Any], Any]:
    """Each training post weighted 1 / its cluster's size in the training folds: each cluster counts once."""
    def weights(train: Any) -> Any:
        size = Counter(d.clusters[i] for i in train)
        return np.array([1.0 / size[d.clusters[i]] for i in train])
    return weights


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--random-folds", action="store_true", help="folds that ignore the near-duplicate clusters")
    parser.add_argument("--only", default="", help="comma-separated lever names (default: all)")
    parser.add_argument("--held-back", action="store_true",
                        help=f"score the levers on the held-back part, once ({', '.join(SINGLE)})")
    args = parser.parse_args()
    start = time.perf_counter()
    logits: dict[str, Any] = {}

    def cached(name: str, lever: Lever) -> Any:
        """Out-of-fold logits of a lever, computed once (the averaged and the biased levers reuse them)."""
        if name not in logits:
            logits[name] = out_of_fold(d, lever)
        return logits[name]

    def averaged(name: str, lever: Lever, same_spread: bool = False) -> dict[str, Any]:
        """The shipped logits averaged with a lever's; `same_spread`: the lever's scaled to the
        shipped logits' standard deviation first (naive Bayes's are far wider)."""
        z, other = cached("shipped", multinomial()), cached(name, lever)
        other = other * z.std() / other.std() if same_spread else other
        return {str(a): figures(d, (1 - a) * z + a * other) for a in (0.25, 0.5)}

    levers: dict[str, Callable[[], dict[str, Any]]] = {
        "baseline": lambda: baseline(d),
        "shipped": lambda: figures(d, cached("shipped", multinomial())),
        "nb_lr_c0.1": lambda: figures(d, cached("nb_lr_c0.1", nb_lr(0.1))),
        "nb_lr_c0.3": lambda: figures(d, cached("nb_lr_c0.3", nb_lr(0.3))),
        "averaged_with_nb_lr": lambda: averaged("nb_lr_c0.1", nb_lr(0.1)),
        "averaged_with_complement_nb": lambda: averaged("complement_nb", complement_nb(), same_spread=True),
        "c0.05": lambda: figures(d, out_of_fold(d, multinomial(0.05))),
        "c0.2": lambda: figures(d, out_of_fold(d, multinomial(0.2))),
        "balanced_class_weight": lambda: figures(d, out_of_fold(d, multinomial(class_weight="balanced"))),
        "l2_norm_c3": lambda: figures(d, out_of_fold(d, multinomial(3.0), norm="l2")),
        "tfidf_c3": lambda: figures(d, out_of_fold(d, multinomial(3.0), norm="tfidf")),
        "tfidf_c10": lambda: figures(d, out_of_fold(d, multinomial(10.0), norm="tfidf")),
        "tfidf_c3_balanced": lambda: figures(d, out_of_fold(d, multinomial(3.0, "balanced"), norm="tfidf")),
        "class_bias": lambda: class_bias(d, cached("shipped", multinomial())),
        "cluster_majority_label": lambda: figures(d, out_of_fold(d, multinomial(), labels=cluster_majority(d))),
        "cluster_agreement_weight": lambda: figures(d, out_of_fold(d, multinomial(), weights=cluster_agreement(d))),
        "cluster_once_weight": lambda: figures(d, out_of_fold(d, multinomial(), weights=cluster_once(d))),
        "whole_text_memory_1": lambda: figures(d, out_of_fold(d, multinomial(), memory=1.0)),
        "whole_text_memory_5": lambda: figures(d, out_of_fold(d, multinomial(), memory=5.0)),
    }
    if args.held_back:
        if args.random_folds:
            parser.error("--held-back calibrates on the cluster-grouped folds: leave out --random-folds")
        levers = {name: lambda name=name: held_back(d, name) for name in SINGLE}  # type: ignore[misc]
    chosen = args.only.split(",") if args.only else list(levers)
    unknown = set(chosen) - set(levers)
    if unknown:
        parser.error(f"unknown lever(s) {', '.join(sorted(unknown))}; known: {', '.join(levers)}")
    d = Data(args.data, args.random_folds)
    results: dict[str, Any] = {"folds": "random" if args.random_folds else "cluster-grouped",
                               "rows": len(d.held_y) if args.held_back else len(d.y),
                               "scored_on": "held-back part" if args.held_back else "development part"}
    for name in chosen:
        results[name] = levers[name]()
        print(name, json.dumps(results[name]), flush=True)
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
