"""`yuqing train`: rebuild the shipped models from the labelled data (see the model card in README.md).

    yuqing train sentiment --data DIR [--out nlp/models] [--folds 5] [--limit N]
    yuqing train idf --data DIR [--out nlp/models/idf.txt]
    yuqing train categories [--out nlp/models/category.bin]

`sentiment` first groups each file's texts into near-duplicate clusters (`nlp.clusters`) and
holds a fifth of the clusters back. On the rest (the development part) it cross-validates with
folds grouped by cluster, so no text is scored by a model that trained on its twin, prints those
figures and fits the calibration on the out-of-fold predictions; then it trains on the development
part once and scores the held-back part, which nothing was tuned on, and prints those figures;
finally it trains on everything and writes `document.bin` and `target.bin`. Everything is
seeded: the same data gives the same files. Needs scikit-learn and datasketch (training only;
the shipped models load without them).

Rows carry a weight (1 for the training files), so corrections made by people can later join the
training data as extra rows that count more.

Why logistic regression on character n-grams: it is calibrated by construction (near enough
that one temperature fixes the rest), trains in seconds, exports to a weight table scored in
pure Python faster than jieba can segment, and on these data a linear model over n-grams was
within a point of everything else we tried (words, TF-IDF weighting, joint training).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nlp import train_categories
from nlp.categories import CategoryRules
from nlp.clusters import near_duplicate_clusters
from nlp.features import (
    Prepared,
    complaint_features,
    document_features,
    entity_features,
    name_features,
    only_holds_money,
    prepare,
    reported_denial,
)
from nlp.institutions import InstitutionMatcher
from nlp.linear import LinearModel
from nlp.normalize import normalize
from nlp.probeset import PROBES, PROBES_C, load_probes
from nlp.provenance import file_record
from nlp.sentiment import (
    DEFAULT_EVIDENCE,
    DOCUMENT_FILE,
    EVIDENCE_GATE,
    MODEL_DIR,
    POLARITIES,
    TARGET_FILE,
    choose_targets,
    decide,
)
from yuqing.model import Institution, Mention, join_title

SEED = 0
FINNSP, FINFE = "finnsp_train.jsonl", "finfe_train.jsonl"
# Regularisation chosen by grouped 5-fold CV (benchmarks/eval_sentiment.py --help shows how to redo it).
C_FORUM, C_NEGATIVE, C_TARGET = 0.1, 20.0, 1.0
MIN_DF = 2
# Weights this small barely move a score; zeroing them (before cross-validation scores, so the
# figures are those of the shipped model) shrinks the document model file by about a third.
PRUNE_BELOW = 0.01


EVIDENCE_GRID = (0.0, 0.3, 0.5, 0.7)
GATE_GRID = (0.03, 0.1, 0.2, 0.3, 0.4)
HELD_BACK = 5  # one cluster-grouped fold in HELD_BACK is held back: a fifth of each file


@dataclass
class NewsRow:
    doc: Prepared
    title: str
    negative: bool
    targets: list[bool]  # per doc.entities
    weight: float = 1.0
    entity_rows: bool = True  # whether the target model learns from its entities too


@dataclass
class ForumRow:
    doc: Prepared
    label: int  # index into POLARITIES
    weight: float = 1.0


# The fields each training file's rows must have (README, "Training on your own data"): a type,
# or the allowed values.
NEWS_FIELDS: dict[str, type | tuple[str, ...]] = {"text": str, "entities": list, "negative": bool,
                                                  "negative_entities": list}
FORUM_FIELDS: dict[str, type | tuple[str, ...]] = {"text": str, "label": POLARITIES}


def read_jsonl(path: Path, limit: int | None = None,
               fields: dict[str, type | tuple[str, ...]] | None = None) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"{path}: training file not found (pass --data with the folder holding {FINNSP}, {FINFE})")
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if limit is not None and number > limit:
                return
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not valid JSON ({e.msg})") from None
            problem = _row_problem(row, fields or {})
            if problem:
                raise SystemExit(f"{path}:{number}: {problem}")
            yield row


def _row_problem(row: Any, fields: dict[str, type | tuple[str, ...]]) -> str:
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    for key, kind in fields.items():
        if key not in row:
            return f"missing {key!r}"
        if isinstance(kind, tuple) and row[key] not in kind:
            return f"{key!r} is {row[key]!r}, not one of {', '.join(kind)}"
        if isinstance(kind, type) and not isinstance(row[key], kind):
            return f"{key!r} must be a JSON {'array' if kind is list else kind.__name__}, got {row[key]!r:.60}"
    return ""


def load_news(data: Path, limit: int | None = None) -> list[NewsRow]:
    rows = []
    for r in read_jsonl(data / FINNSP, limit, NEWS_FIELDS):
        doc = prepare(join_title(r.get("title", ""), r["text"]), r["entities"])
        gold = {normalize(e) for e in r["negative_entities"]}
        rows.append(NewsRow(doc, normalize(r.get("title", "")), bool(r["negative"]), [e in gold for e in doc.entities]))
    return rows


def load_forum(data: Path, limit: int | None = None) -> list[ForumRow]:
    return [ForumRow(prepare(r["text"]), POLARITIES.index(r["label"]))
            for r in read_jsonl(data / FINFE, limit, FORUM_FIELDS)]


# How much one person's correction counts against one row of the training files: more than one,
# since it is a reader's judgement of exactly the kind of text the deployment sees, not a
# benchmark's label; not so much that a handful of corrections outweigh thousands of rows.
CORRECTION_WEIGHT = 3.0
# A correction of these fields says something the sentiment and target models learn from.
_LEARNT_FIELDS = {"polarity", "negative_entities", "institutions"}


Rows = tuple[list[ForumRow], list[NewsRow]]


def _add_row(rows: Rows, text: str, title: str, institutions: Sequence[str], polarity: str,
             negative_entities: Sequence[str], weight: float) -> None:
    """A text a person labelled, as a training row: naming institutions, a finnsp-like row
    (negative or not, and about which of them); naming none, a forum row."""
    forum, news = rows
    if institutions:
        # The institutions are watched ones: no name features (nlp.features).
        doc = prepare(text, institutions, watched=institutions)
        gold = {normalize(e) for e in negative_entities}
        news.append(NewsRow(doc, normalize(title), polarity == "negative", [e in gold for e in doc.entities], weight))
    else:
        forum.append(ForumRow(prepare(text), POLARITIES.index(polarity), weight))


def correction_rows(mentions: Sequence[Mention]) -> Rows:
    """Training rows from mentions people corrected (`yuqing label`), in id order, so the same
    corrections train the same model. Each weighs `CORRECTION_WEIGHT`."""
    rows: Rows = ([], [])
    for m in sorted(mentions, key=lambda m: m.id):
        if _LEARNT_FIELDS & set(m.model_analysis) and m.polarity in POLARITIES:
            _add_row(rows, join_title(m.title, m.content), m.title, m.institutions, m.polarity,
                     m.negative_entities, CORRECTION_WEIGHT)
    return rows


# With `--with-probes`, probe sets A and C (`nlp.probeset`), the complaints the rules are tuned on,
# are training rows of "negative about an entity": the model then knows complaint words neither
# training file has. Not of the target model (with them, sets B and D blame the bank where the
# money was kept in 3 `kept` probes, not 1) nor of the forum one. Sets B and D stay unseen. One
# probe counts as one finnsp row (3 gave the same CV figures). Off by default: at the shipped
# gate they cost finnsp's CV 0.3 point for 1.3–2.3 points on the probe sets (model card).
PROBE_SOURCES = (PROBES, PROBES_C)
PROBE_WEIGHT = 1.0


def probe_rows(paths: Sequence[Path] = PROBE_SOURCES) -> list[NewsRow]:
    """The probes of `paths` that name a watched institution, as training rows in file order; each
    set's targets are its watched institutions, found as the analyzer finds them (`nlp.probes.watched`)."""
    rows: Rows = ([], [])
    for path in paths:
        probes = load_probes(path)
        matcher = InstitutionMatcher([Institution(n) for n in dict.fromkeys(t for p in probes for t in p.targets)])
        for p in probes:
            found = [name for _, name in matcher.find(normalize(p.text))]
            _add_row(rows, p.text, "", found, p.polarity, p.targets, PROBE_WEIGHT)
    return [replace(row, entity_rows=False) for row in rows[1]]


# The project's own texts in customers' words (`nlp/data/customer_voice.jsonl`, in finnsp's row
# format): complaints of every category, in the register of complaint platforms, Weibo and forums,
# and as many that are not complaints (thanks, praise, questions, how-tos, denials, the bank where a
# fraud victim kept the money). Written for this project, not scraped; neither training file has
# complaints in a customer's own voice. Rows of "negative about an entity" in every training part,
# never scored (the folds' test parts are finnsp's alone); not of the target model, as the probes
# are not (their effect on the entity CV was within 0.1 point either way, model card).
VOICE = Path(__file__).resolve().parent / "data" / "customer_voice.jsonl"
# Chosen by the development part's grouped CV (document F1 at the gate below, 0.5 / 1 / 2: 0.9556 /
# 0.9561 / 0.9550; model card); 0 trains without them.
VOICE_WEIGHT = 1.0
VOICE_POSITIVE = ("thanks", "praise")  # the kinds of row the forum model learns as positive


def voice_rows(path: Path = VOICE, weight: float = VOICE_WEIGHT) -> Rows:
    """The rows of `path` (finnsp's format, each naming an institution) as training rows in file
    order, each weighing `weight`: each text once for "negative about an entity" and once for the
    forum model (negative ones negative, thanks and praise positive, the rest neutral), which decides the
    texts that name no watched institution. Their institutions are watched ones: no name features."""
    forum: list[ForumRow] = []
    news: list[NewsRow] = []
    for r in read_jsonl(path, fields=NEWS_FIELDS):
        if not r["entities"]:
            raise SystemExit(f"{path}: row {r.get('id', '?')!r} names no institution")
        polarity = "negative" if r["negative"] else "positive" if r.get("kind") in VOICE_POSITIVE else "neutral"
        rows: Rows = ([], [])
        _add_row(rows, r["text"], r.get("title", ""), r["entities"], polarity, r["negative_entities"], weight)
        news += [replace(row, entity_rows=False) for row in rows[1]]
        forum += [ForumRow(row.doc, POLARITIES.index(polarity), weight) for row in rows[1]]
    return forum, news


def extra_rows(with_probes: bool = False) -> Rows:
    """The rows beside the training files that join every training part and are never scored:
    the customer-voice texts (none when `VOICE_WEIGHT` is 0) and, `with_probes`, probe sets A and C."""
    forum, news = voice_rows(VOICE, VOICE_WEIGHT) if VOICE_WEIGHT else ([], [])
    return forum, [*(probe_rows() if with_probes else []), *news]


def corrections_record(mentions: Sequence[Mention]) -> dict[str, Any]:
    """What the model header says about the corrections it was trained with: how many, and a
    SHA-256 over the corrected mentions' ids and labels, as `file_record` does for a file."""
    learnt = sorted((m.id, m.polarity, sorted(m.negative_entities), sorted(m.institutions)) for m in mentions
                    if _LEARNT_FIELDS & set(m.model_analysis))
    digest = hashlib.sha256(json.dumps(learnt, ensure_ascii=False).encode()).hexdigest()
    return {"file": "corrections (yuqing label)", "rows": len(learnt), "sha256": digest}


class _Fitter:
    """scikit-learn behind one small seam: binary n-gram counts → logistic regression."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self._vectorizer = CountVectorizer(analyzer=_identity, binary=True, min_df=MIN_DF)

    def vocabulary(self, feature_lists: Sequence[list[str]]) -> Any:
        return self._vectorizer.fit_transform(feature_lists)

    def transform(self, feature_lists: Sequence[list[str]]) -> Any:
        return self._vectorizer.transform(feature_lists)

    @property
    def names(self) -> list[str]:
        return list(self._vectorizer.get_feature_names_out())

    @staticmethod
    def logistic(x: Any, y: Sequence[int], c: float, weights: Sequence[float]) -> Any:
        from sklearn.linear_model import LogisticRegression

        classes = len(set(y))
        if classes < 2:
            # with few texts, near-duplicate grouping can leave a fold whose training part has one label
            raise SystemExit(f"a training fold has only one label ({len(y)} rows): the data need more "
                                    "distinct texts of each label, or fewer --folds")
        solver = "lbfgs" if classes > 2 else "liblinear"
        model = LogisticRegression(C=c, solver=solver, max_iter=3000, random_state=SEED)
        model.fit(x, y, sample_weight=list(weights))
        model.coef_[abs(model.coef_) < PRUNE_BELOW] = 0.0
        return model


def _identity(x: list[str]) -> list[str]:
    return x


def _entity_feats(row: NewsRow) -> list[list[str]]:
    return [entity_features(row.doc.text, e, row.doc.entities, row.title, row.doc.named) for e in row.doc.entities]


def _entity_rows(rows: Sequence[NewsRow]) -> tuple[list[list[str]], list[int], list[float]]:
    """Every entity of every text, labelled "the text is negative about it". Trained on all texts,
    not only the negative ones, the score also says whether the text is negative about anyone,
    which the document decision uses (grouped CV: document F1 0.955 → 0.956, entity F1 0.902 → 0.905)."""
    feats: list[list[str]] = []
    labels: list[int] = []
    weights: list[float] = []
    for row in (r for r in rows if r.entity_rows):
        feats += _entity_feats(row)
        labels += map(int, row.targets)
        weights += [row.weight] * len(row.targets)
    return feats, labels, weights


@dataclass
class Trained:
    """Fitted models with their raw (uncalibrated) scoring functions."""

    fitter: _Fitter
    forum: Any
    negative: Any
    target_fitter: _Fitter
    target: Any
    idf: Any  # per vocabulary feature, over the news rows (`news_idf`): what "negative" reads

    def forum_scores(self, rows: Sequence[ForumRow]) -> Any:
        return self.forum.decision_function(self.fitter.transform([_doc_feats(r.doc) for r in rows]))

    def negative_scores(self, rows: Sequence[NewsRow]) -> Any:
        return self.negative.decision_function(_weighed(self.fitter.transform([_doc_feats(r.doc) for r in rows]),
                                                        self.idf))

    def target_scores(self, feats: Sequence[list[str]]) -> Any:
        return self.target.decision_function(self.target_fitter.transform(feats))


_RULES = CategoryRules()  # the built-in complaint rules: what the learnt complaint features mean


def _doc_feats(doc: Prepared) -> list[str]:
    words = _RULES.assess(doc.masked, doc.negated, 0.0)[0]
    return (document_features(doc.masked, doc.negated) + complaint_features(words, _RULES.codes(words))
            + name_features(doc))


def news_idf(x: Any) -> Any:
    """Smoothed IDF, ln((1 + n) / (1 + df)) + 1, of each feature over the rows of `x` (binary
    counts), as scikit-learn's TfidfTransformer has it."""
    import numpy as np

    df = np.asarray((x > 0).sum(axis=0)).ravel()
    return np.log((1 + x.shape[0]) / (1 + df)) + 1


def _weighed(x: Any, idf: Any) -> Any:
    """Binary features weighed by their IDF, each row L2-normalised: what "negative about an
    entity" reads (`nlp.sentiment.SentimentModel` does the same in one pass over the exported
    weight × IDF and IDF²). The IDF, not the normalisation, is what helps: CV document F1 0.954 →
    0.959 at C 10, the gate 0.05 and no denial rule; C 20 is the CV optimum with both (model card)."""
    from scipy import sparse
    from sklearn.preprocessing import normalize as l2_normalize

    return l2_normalize(x @ sparse.diags(idf))


def fit(forum: Sequence[ForumRow], news: Sequence[NewsRow]) -> Trained:
    fitter = _Fitter()
    x = fitter.vocabulary([_doc_feats(r.doc) for r in forum] + [_doc_feats(r.doc) for r in news])
    x_forum, x_news = x[:len(forum)], x[len(forum):]
    forum_model = fitter.logistic(x_forum, [r.label for r in forum], C_FORUM, [r.weight for r in forum])
    idf = news_idf(x_news)
    negative_model = fitter.logistic(_weighed(x_news, idf), [int(r.negative) for r in news], C_NEGATIVE,
                                     [r.weight for r in news])
    target_fitter = _Fitter()
    feats, labels, weights = _entity_rows(news)
    target_model = target_fitter.logistic(target_fitter.vocabulary(feats), labels, C_TARGET, weights)
    return Trained(fitter, forum_model, negative_model, target_fitter, target_model, idf)


def _folds(groups: Sequence[int], labels: Sequence[int], k: int) -> list[tuple[Any, Any]]:
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=SEED)
    return list(splitter.split(np.zeros(len(labels)), np.array(labels), np.array(groups)))


def clusters(rows: Sequence[NewsRow] | Sequence[ForumRow]) -> list[int]:
    return near_duplicate_clusters([r.doc.masked for r in rows])


@dataclass
class Split:
    """Row indices of the development part and the held-back part of one file, and each row's
    near-duplicate cluster."""

    dev: list[int]
    held: list[int]
    clusters: list[int]


def hold_back(clusters: Sequence[int], labels: Sequence[int]) -> Split:
    """One fold of a seeded, stratified, cluster-grouped `HELD_BACK`-fold split is held back."""
    dev, held = _folds(clusters, labels, HELD_BACK)[0]
    return Split(sorted(map(int, dev)), sorted(map(int, held)), list(clusters))


@dataclass
class Scores:
    """Raw scores of a model on rows it did not train on (out-of-fold, or on the held-back part)."""

    forum: Any  # (n_forum, 3)
    negative: Any  # (n_news,)
    target: list[Any]  # per news row, one raw score per entity


def score(model: Trained, forum: Sequence[ForumRow], news: Sequence[NewsRow]) -> Scores:
    import numpy as np

    return Scores(model.forum_scores(forum) if forum else np.zeros((0, 3)),
                  model.negative_scores(news) if news else np.zeros(0),
                  [model.target_scores(f) if (f := _entity_feats(r)) else np.zeros(0) for r in news])


def cross_validate(forum: Sequence[ForumRow], news: Sequence[NewsRow], k: int,
                   forum_groups: Sequence[int], news_groups: Sequence[int],
                   extra: Rows = ([], [])) -> Scores:
    """Out-of-fold raw scores, folds grouped by near-duplicate cluster (`nlp.clusters`): finfe
    repeats about a quarter of its posts, often with different labels, and finnsp a quarter of its
    texts with a changed name or tail; folds that split them reward memorising. The `extra` rows
    (`voice_rows`, `probe_rows`) join every fold's training part and are never scored."""
    import numpy as np

    forum_folds = _folds(forum_groups, [r.label for r in forum], k)
    news_folds = _folds(news_groups, [int(r.negative) for r in news], k)
    oof = Scores(np.zeros((len(forum), 3)), np.zeros(len(news)), [np.zeros(0)] * len(news))
    for (f_train, f_test), (n_train, n_test) in zip(forum_folds, news_folds, strict=True):
        model = fit([*(forum[i] for i in f_train), *extra[0]], [*(news[i] for i in n_train), *extra[1]])
        part = score(model, [forum[i] for i in f_test], [news[i] for i in n_test])
        oof.forum[f_test], oof.negative[n_test] = part.forum, part.negative
        for i, s in zip(n_test, part.target, strict=True):
            oof.target[i] = s
        print(f"  fold done ({len(f_test)} forum, {len(n_test)} news rows held out)", flush=True)
    return oof


def fit_temperature(scores: Any, labels: Sequence[int]) -> float:
    """The softmax temperature minimising log-loss of out-of-fold predictions."""
    import numpy as np

    y = np.array(labels)

    def nll(t: float) -> float:
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    return min((0.5 + 0.05 * i for i in range(60)), key=nll)


def fit_platt(scores: Any, labels: Sequence[int]) -> list[float]:
    """Platt scaling of one score, or of several (one column each): [weight ..., intercept]."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, random_state=SEED).fit(scores.reshape(len(labels), -1), labels)
    return [*map(float, lr.coef_[0]), float(lr.intercept_[0])]


def _platt(coefs: Sequence[float], scores: Any) -> Any:
    import numpy as np

    return _sigmoid(np.asarray(scores).reshape(len(scores), -1) @ np.array(coefs[:-1]) + coefs[-1])


def _negative_inputs(oof: Scores) -> Any:
    """Per news text: its document score and its best entity score (0 without entities)."""
    import numpy as np

    return np.c_[oof.negative, [s.max() if len(s) else 0.0 for s in oof.target]]


def expected_calibration_error(prob: Any, outcome: Any, bins: int = 10) -> float:
    """Mean |accuracy − confidence| over equal-width probability bins, weighted by bin size."""
    import numpy as np

    edges = np.minimum((prob * bins).astype(int), bins - 1)
    return float(sum(abs(outcome[edges == b].mean() - prob[edges == b].mean()) * (edges == b).mean()
                     for b in range(bins) if (edges == b).any()))


def _sigmoid(x: Any) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(-x))


@dataclass
class Calibration:
    temperature: float
    platt: list[float]
    target_platt: list[float]
    target_threshold: float
    floor: float = 0.0


def _forum_probs(scores: Any, temperature: float) -> Any:
    import numpy as np

    z = scores / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def fit_floor(probs: Any, labels: Sequence[int]) -> float:
    """The confidence floor (see `nlp.sentiment.decide`) that maximises the macro-F1 of the
    forum decisions on out-of-fold probabilities; 0 when no floor helps."""
    from sklearn.metrics import f1_score

    def macro_f1(floor: float) -> float:
        pred = [POLARITIES.index(decide(list(p), None, 0.0, floor)[0]) for p in probs]
        return float(f1_score(labels, pred, average="macro"))

    return max((0.02 * i for i in range(31)), key=lambda f: (round(macro_f1(f), 4), -f))


def calibrate(oof: Scores, forum: Sequence[ForumRow], news: Sequence[NewsRow]) -> Calibration:
    import numpy as np

    labels = [r.label for r in forum]
    temperature = fit_temperature(oof.forum, labels)
    platt = fit_platt(_negative_inputs(oof), [int(r.negative) for r in news])
    scores = np.concatenate([oof.target[i] for i, r in enumerate(news) if r.negative])
    target_labels = [int(t) for r in news if r.negative for t in r.targets]
    target_platt = fit_platt(scores, target_labels)
    floor = fit_floor(_forum_probs(oof.forum, temperature), labels)
    return Calibration(temperature, platt, target_platt, 0.5, round(floor, 2))


def metrics(oof: Scores, cal: Calibration, forum: Sequence[ForumRow], news: Sequence[NewsRow],
            evidence_weight: float = DEFAULT_EVIDENCE, gate: float = EVIDENCE_GATE) -> dict[str, Any]:
    """Cross-validated figures of the product's decisions, made by the run-time rules
    (`nlp.sentiment.decide`, `choose_targets`, the complaint rules) on out-of-fold scores."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    rules = CategoryRules()

    def evidence(doc: Prepared) -> float:
        return rules.assess(doc.masked, doc.negated, evidence_weight)[1]

    y = np.array([r.label for r in forum])
    p = _forum_probs(oof.forum, cal.temperature)
    decided = [decide(list(p[i]), None, evidence(r.doc), cal.floor, gate, reported_denial(r.doc.masked))
               for i, r in enumerate(forum)]
    pred = np.array([POLARITIES.index(label) for label, _ in decided])
    p_pos = np.array([probs[2] for _, probs in decided])
    gold_neg = np.array([r.negative for r in news])
    q = _platt(cal.platt, _negative_inputs(oof))
    news_decided = [decide([1 / 3] * 3, float(q[i]), evidence(r.doc), cal.floor, gate, reported_denial(r.doc.masked))
                    if r.doc.entities
                    else ("neutral", [0.0])
                    for i, r in enumerate(news)]
    doc_neg = np.array([label == "negative" for label, _ in news_decided])
    tp = fp = fn = 0
    for i, row in enumerate(news):
        gold = {e for e, t in zip(row.doc.entities, row.targets, strict=True) if t}
        chosen: set[str] = set()
        if doc_neg[i]:
            s = _platt(cal.target_platt, oof.target[i])
            held = {e for e in row.doc.entities if only_holds_money(row.doc.text, e, row.doc.entities)}
            chosen = set(choose_targets(row.doc.entities, list(s), cal.target_threshold, held))
        tp, fp, fn = tp + len(chosen & gold), fp + len(chosen - gold), fn + len(gold - chosen)
    return {
        "forum_rows": len(forum), "news_rows": len(news),
        "forum_accuracy": round(float(accuracy_score(y, pred)), 4),
        "forum_macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "forum_recall": dict(zip(POLARITIES, (round(float(v), 4) for v in
                                              recall_score(y, pred, labels=[0, 1, 2], average=None)), strict=True)),
        "forum_ece_positive": round(expected_calibration_error(p_pos, (y == 2).astype(float)), 4),
        "news_document_f1": round(float(f1_score(gold_neg, doc_neg)), 4),
        "news_ece_negative": round(expected_calibration_error(np.array([pr[0] for _, pr in news_decided]),
                                                              gold_neg.astype(float)), 4),
        "news_entity_f1": round(2 * tp / max(1, 2 * tp + fp + fn), 4),
        "temperature": cal.temperature,
        "floor": cal.floor,
        "category_evidence": evidence_weight,
    }


def _export(trained: Trained, cal: Calibration, out: Path, provenance: dict[str, Any]) -> None:
    import numpy as np

    # "negative about an entity" as weight × IDF, beside IDF² (no bias) for the norm of the text's
    # IDF-weighted features: every vocabulary feature is then kept, since each counts in the norm.
    idf = trained.idf[:, None]
    weights = np.hstack([trained.forum.coef_.T, trained.negative.coef_.T * idf, idf ** 2])
    bias = [*trained.forum.intercept_, *trained.negative.intercept_, 0.0]
    _save(weights, bias, trained.fitter.names,
          {**provenance, "outputs": [*POLARITIES, "negative_about_entity", "idf_squared"],
           "temperature": cal.temperature, "platt": cal.platt, "floor": cal.floor}, out / DOCUMENT_FILE)
    _save(trained.target.coef_.T, list(trained.target.intercept_), trained.target_fitter.names,
          {**provenance, "outputs": ["is_target"], "platt": cal.target_platt, "threshold": cal.target_threshold},
          out / TARGET_FILE)


def _save(weights: Any, bias: list[float], names: list[str], meta: dict[str, Any], path: Path) -> None:
    import numpy as np

    keep = np.abs(weights).max(axis=1) > 0
    kept = weights[keep].astype(np.float32)
    LinearModel([n for n, k in zip(names, keep, strict=True) if k], array("f", kept.ravel().tolist()),
                [float(b) for b in bias], meta).save(path)


def _missing_classes(data: Path, forum: Sequence[ForumRow], news: Sequence[NewsRow]) -> str:
    """What the labels lack for every model to be fitted (each needs examples of each class)."""
    labels = {POLARITIES[r.label] for r in forum}
    if len(labels) < len(POLARITIES):
        return (f"{data / FINFE}: needs rows of every label ({', '.join(POLARITIES)}); "
                f"found only {', '.join(sorted(labels))}")
    if len({r.negative for r in news}) < 2:
        return f"{data / FINNSP}: needs rows with negative true and rows with negative false"
    targets = {t for r in news if r.negative for t in r.targets}
    if len(targets) < 2:
        return (f"{data / FINNSP}: the negative rows need entities that are in negative_entities and entities that are "
                "not (the target model learns to tell them apart)")
    return ""


def _pick(rows: Sequence[Any], indices: Sequence[int]) -> list[Any]:
    return [rows[i] for i in indices]


@dataclass
class Evaluation:
    """The honest figures: cross-validated on the development part, and on the held-back part."""

    cv: dict[str, Any]
    held_back: dict[str, Any]
    calibration: Calibration


def _key_figures(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in ("news_document_f1", "news_entity_f1", "forum_accuracy", "forum_macro_f1")}


def evaluate(forum: Sequence[ForumRow], news: Sequence[NewsRow], folds: int,
             forum_split: Split, news_split: Split,
             corrected: tuple[Sequence[ForumRow], Sequence[NewsRow]] = ((), ()),
             extra: Rows = ([], [])) -> Evaluation:
    """Cross-validate on the development parts, calibrate on their out-of-fold scores, then train
    on the development parts and score the held-back parts with that calibration. The `extra`
    rows (`voice_rows`, `probe_rows`) join every training part. With rows from corrections (`corrected`), the
    held-back parts are scored twice: by the model trained without them
    (`held_back_without_corrections`) and with the corrected rows added (`held_back`); the
    corrected rows are never scored."""
    dev_forum, dev_news = _pick(forum, forum_split.dev), _pick(news, news_split.dev)
    oof = cross_validate(dev_forum, dev_news, folds, _pick(forum_split.clusters, forum_split.dev),
                         _pick(news_split.clusters, news_split.dev), extra)
    cal = calibrate(oof, dev_forum, dev_news)
    cv = metrics(oof, cal, dev_forum, dev_news)
    # What other evidence weights would give, on the development part only (choosing by the
    # held-back part would make it one more part tuned on).
    cv["by_evidence"] = {w: _key_figures(metrics(oof, cal, dev_forum, dev_news, w)) for w in EVIDENCE_GRID}
    cv["by_gate"] = {g: _key_figures(metrics(oof, cal, dev_forum, dev_news, gate=g)) for g in GATE_GRID}
    held_forum, held_news = _pick(forum, forum_split.held), _pick(news, news_split.held)
    extra_forum, extra_news = corrected
    dev_forum, dev_news = [*dev_forum, *extra[0]], [*dev_news, *extra[1]]
    held_scores = score(fit([*dev_forum, *extra_forum], [*dev_news, *extra_news]), held_forum, held_news)
    held = metrics(held_scores, cal, held_forum, held_news)
    # Reported for every weight so the model card can show the weight the development part picked
    # (and the shipped default) on the held-back part; the choice is made on `cv` alone.
    held["by_evidence"] = {w: _key_figures(metrics(held_scores, cal, held_forum, held_news, w)) for w in EVIDENCE_GRID}
    if extra_forum or extra_news:
        cv["held_back_without_corrections"] = metrics(score(fit(dev_forum, dev_news), held_forum, held_news), cal,
                                                      held_forum, held_news)
    return Evaluation(cv, held, cal)


def splits(forum: Sequence[ForumRow], news: Sequence[NewsRow]) -> tuple[Split, Split]:
    return (hold_back(clusters(forum), [r.label for r in forum]),
            hold_back(clusters(news), [int(r.negative) for r in news]))


def train_sentiment(data: Path, out: Path, folds: int, limit: int | None,
                    corrections: Sequence[Mention] | None = None, with_probes: bool = False) -> Evaluation:
    """Evaluate, then train on everything and write the models to `out`. `corrections`: the
    mentions people corrected, whose rows join the training (see `correction_rows`); `with_probes`:
    probe sets A and C join it too (`probe_rows`)."""
    forum, news = load_forum(data, limit), load_news(data, limit)
    corrected = correction_rows(corrections or [])
    extra = extra_rows(with_probes)
    problem = _missing_classes(data, forum, news)
    if problem:
        raise SystemExit(problem)
    forum_split, news_split = splits(forum, news)
    print(f"{len(forum)} forum rows ({len(set(forum_split.clusters))} near-duplicate clusters), "
          f"{len(news)} news rows ({len(set(news_split.clusters))} clusters); "
          f"{len(forum_split.held)} and {len(news_split.held)} held back; "
          f"{folds}-fold cross-validation on the rest ...", flush=True)
    if extra[0]:
        print(f"{len(extra[0])} texts of {VOICE.name} join every training part, each weighing {VOICE_WEIGHT}",
              flush=True)
    if corrections is not None:
        print(f"{len(corrected[0]) + len(corrected[1])} corrected mention(s) join the training "
              f"({len(corrected[1])} naming institutions, {len(corrected[0])} not), each weighing {CORRECTION_WEIGHT}",
              flush=True)
    result = evaluate(forum, news, folds, forum_split, news_split, corrected, extra)
    without = result.cv.pop("held_back_without_corrections", None)
    figures = {"cross_validated": result.cv, "held_back": result.held_back}
    if without is not None:
        figures["held_back_without_corrections"] = without
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    trained = fit([*forum, *extra[0], *corrected[0]], [*news, *extra[1], *corrected[1]])
    # The figures are printed and kept in the model card, not in the header: they depend on the
    # complaint rules, which can change (and be configured) without retraining.
    records = [file_record(data / FINNSP, len(news)), file_record(data / FINFE, len(forum))]
    if corrections is not None:
        records.append(corrections_record(corrections))
    provenance: dict[str, Any] = {"data": records, "limit": limit, "folds": folds, "seed": SEED}
    if extra[0]:
        provenance["voice"] = [{**file_record(VOICE, len(extra[0])), "weight": VOICE_WEIGHT}]
    if with_probes:
        provenance["probes"] = [file_record(path, len(load_probes(path))) for path in PROBE_SOURCES]
    _export(trained, result.calibration, out, provenance)
    print(f"wrote {out / DOCUMENT_FILE} and {out / TARGET_FILE}")
    return result


def build_idf(texts: Sequence[str], out: Path, min_df: int = 2) -> int:
    """IDF, log(N / df), of words in at least `min_df` texts; returns the word count."""
    import jieba

    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(jieba.lcut(text)))
    n = len(texts)
    rows = sorted((w, math.log(n / c)) for w, c in df.items() if c >= min_df and w.strip())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{w} {v:.4f}\n" for w, v in rows), encoding="utf-8")
    return len(rows)


def main(argv: Sequence[str] | None = None, corrections: Sequence[Mention] = ()) -> int:
    """`yuqing train ...`; `corrections`: the corrected mentions of the store, which `yuqing train`
    reads when `--with-corrections` is given."""
    parser = argparse.ArgumentParser(prog="yuqing train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sent = sub.add_parser("sentiment", help="train the sentiment and target models (cross-validates first)")
    idf = sub.add_parser("idf", help="build the keyword IDF table from the training texts")
    for p in (sent, idf):
        p.add_argument("--data", type=Path, required=True, help=f"folder holding {FINNSP} and {FINFE}")
    sent.add_argument("--out", type=Path, default=MODEL_DIR, help="folder for document.bin and target.bin")
    sent.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    sent.add_argument("--limit", type=int, default=None, help="use only the first N rows of each file (for tests)")
    sent.add_argument("--with-corrections", action="store_true",
                      help=f"add the mentions people corrected (yuqing label) as training rows, each weighing "
                           f"{CORRECTION_WEIGHT}; prints the held-back figures with and without them")
    sent.add_argument("--with-probes", action="store_true",
                      help="add probe sets A and C (tests/fixtures) as training rows of the document model")
    idf.add_argument("--out", type=Path, default=MODEL_DIR / "idf.txt")
    train_categories.add_parser(sub)
    args = parser.parse_args(argv)
    if args.what == "categories":
        return train_categories.run(args)
    if args.what == "sentiment":
        if args.folds < 2:
            parser.error("--folds must be at least 2")
        if importlib.util.find_spec("sklearn") is None:
            parser.error("training needs scikit-learn: pip install scikit-learn (or this package's [test] extra)")
        train_sentiment(args.data, args.out, args.folds, args.limit,
                        corrections if args.with_corrections else None, args.with_probes)
    else:
        texts = [normalize(r["text"]) for name in (FINNSP, FINFE) for r in read_jsonl(args.data / name)]
        print(f"wrote {build_idf(texts, args.out)} words to {args.out}")
    return 0
