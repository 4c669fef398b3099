"""The trained models behind polarity, `sentiment` and `negative_entities`.

Two linear models over character n-grams (see `nlp.features`), trained by `yuqing train
sentiment` and shipped in `nlp/models/`:

- `document.bin`, four outputs per text: three-class forum sentiment (negative, neutral,
  positive; trained on finfe) and "negative about an entity" (trained on finnsp).
- `target.bin`, one output per (text, entity): is the negative information about this entity
  (trained on the entities of the negative finnsp texts).

How they combine: a text without entities gets the forum distribution. A text with entities
(given, or configured institutions found in it) gets P(negative) = q, the calibrated
entity-negative probability, and shares 1 − q between neutral and positive in the forum model's
proportions; complaint-rule evidence then raises P(negative) (see `decide`). Calibration (a temperature for the forum
softmax, Platt scaling for q and for the target score) is fitted on cross-validated
predictions at training time and stored in the model files.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from nlp.features import document_features, entity_features
from nlp.linear import LinearModel, ModelFileError

MODEL_DIR = Path(__file__).with_name("models")
DOCUMENT_FILE = "document.bin"
TARGET_FILE = "target.bin"
POLARITIES = ("negative", "neutral", "positive")
# How much a complaint category of severity 1 alone counts towards "negative" (see `decide`). In
# cross-validation 0.3 and 0.5 were within 0.002 of 0 on both training sets (0.7 cost 0.006 F1 on
# finnsp); 0.5 because complaints, which neither training set covers, are what the product is for.
DEFAULT_EVIDENCE = 0.5


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def softmax(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def decide(forum: Sequence[float], entity_negative: float | None, evidence: float) -> tuple[str, list[float]]:
    """The decision rule, shared with the cross-validation in `nlp.train`.

    `forum`: the forum model's calibrated [neg, neu, pos]; `entity_negative`: the calibrated
    probability that the text is negative about one of its entities (None without entities);
    `evidence`: 0..1 from the complaint rules (category severity × `nlp.category_evidence`), for
    complaints in words neither training set knows (爆通讯录, 盗刷). P(negative) becomes
    1 − (1 − p)(1 − evidence) — a noisy-OR — and the other classes shrink in proportion.
    """
    neg = forum[0] if entity_negative is None else entity_negative
    rest = max(1e-9, forum[1] + forum[2])
    neg = 1 - (1 - neg) * (1 - evidence)
    probs = [neg, (1 - neg) * forum[1] / rest, (1 - neg) * forum[2] / rest]
    # With entities the binary finnsp decision holds (≥ 0.5); without, the largest class wins.
    if neg >= (0.5 if entity_negative is not None else max(probs[1:])):
        return "negative", probs
    return ("neutral" if probs[1] >= probs[2] else "positive"), probs


class SentimentModel:
    def __init__(self, document: LinearModel, target: LinearModel) -> None:
        if document.outputs != 4 or target.outputs != 1:
            raise ModelFileError("model files have the wrong shape (rebuild them with `yuqing train sentiment`)")
        self._document, self._target = document, target
        self._temperature = float(document.meta.get("temperature", 1.0))
        self._platt = document.meta.get("platt", [1.0, 0.0])
        self._target_platt = target.meta.get("platt", [1.0, 0.0])
        self.target_threshold = float(target.meta.get("threshold", 0.5))

    @classmethod
    def load(cls, folder: Path = MODEL_DIR) -> SentimentModel:
        return cls(LinearModel.load(folder / DOCUMENT_FILE), LinearModel.load(folder / TARGET_FILE))

    def polarity(self, masked: str, negated: bytearray, has_entities: bool,
                 evidence: float = 0.0) -> tuple[str, list[float]]:
        """(polarity, [P(negative), P(neutral), P(positive)]) of a normalised, entity-masked text;
        `evidence` is the complaint-rule evidence (see `decide`)."""
        z = self._document.scores(document_features(masked, negated))
        a, b = self._platt
        return decide(softmax(z[:3], self._temperature), _sigmoid(a * z[3] + b) if has_entities else None, evidence)

    def target_scores(self, text: str, entities: Sequence[str], title: str = "") -> list[float]:
        """For each entity, the probability that the text's negative information is about it."""
        a, b = self._target_platt
        return [_sigmoid(a * self._target.scores(entity_features(text, e, entities, title))[0] + b)
                for e in entities]

    def targets(self, text: str, entities: Sequence[str], title: str = "") -> list[str]:
        """The entities a negative text is about."""
        return choose_targets(entities, self.target_scores(text, entities, title), self.target_threshold)


def choose_targets(entities: Sequence[str], scores: Sequence[float], threshold: float) -> list[str]:
    """Those scoring at least `threshold`, or else the single most likely one (a text negative
    about its entities is negative about somebody)."""
    if not entities:
        return []
    chosen = [e for e, s in zip(entities, scores, strict=True) if s >= threshold]
    return chosen or [entities[max(range(len(scores)), key=scores.__getitem__)]]
