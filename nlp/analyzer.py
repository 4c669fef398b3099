"""The analyse stage: one `Analyzer`, built once, scores batches of texts from any thread."""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nlp.categories import CategoryRules
from nlp.features import complaint_features, prepare_clean
from nlp.institutions import InstitutionMatcher
from nlp.keywords import keywords as extract_keywords
from nlp.linear import ModelFileError
from nlp.negation import negation_cues
from nlp.normalize import DEFAULT_MAX_CHARS, normalize, normalize_name
from nlp.risk import RiskModel
from nlp.sentiment import DEFAULT_EVIDENCE, SentimentModel
from yuqing.config import ConfigError
from yuqing.model import Institution, Mention, join_title

KEYWORDS_PER_TEXT = 5
SETTINGS_KEYS = ("model", "max_chars", "categories", "category_evidence", "risk", "keywords_per_text")


@dataclass
class AnalysisInput:
    text: str
    title: str = ""
    entities: Sequence[str] | None = None  # given entities; None → find configured institutions
    source: str = ""  # weibo, news, heimao, guba, tieba, rss, ...
    engagement: int = 0  # reposts + comments + likes, when known


@dataclass
class Analysis:
    polarity: str  # negative | neutral | positive
    sentiment: float  # calibrated probability that the text is positive
    negative_entities: list[str]
    categories: list[str]
    risk: float
    institutions: list[str]
    keywords: list[str]
    # The cues that decided it: "features" (the model features that raised the decided class most,
    # readable, with their weight), "categories" (the complaint keywords found outside negation),
    # "negation" (each negation or prevention/thanks cue with the words it covers).
    why: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyzerSettings:
    """The `nlp:` section, validated without loading a model (start-up validation does this for
    every command); a bad key raises `ConfigError("nlp", "nlp.<key>", problem)`."""

    max_chars: int
    keywords_per_text: int
    categories: CategoryRules
    category_evidence: float
    risk: RiskModel
    model: Path | None

    @classmethod
    def parse(cls, settings: Mapping[str, Any] | None) -> AnalyzerSettings:
        if settings is not None and not isinstance(settings, Mapping):
            raise ConfigError("nlp", "nlp", f"must be a mapping, got {type(settings).__name__}")
        settings = dict(settings or {})
        unknown = sorted(set(map(str, settings)) - set(SETTINGS_KEYS))
        if unknown:
            raise ConfigError("nlp", f"nlp.{unknown[0]}", f"unknown key (allowed: {', '.join(SETTINGS_KEYS)})")
        categories = settings.get("categories") or {}
        if not isinstance(categories, Mapping):
            raise ConfigError("nlp", "nlp.categories", "must be a mapping of category code → rule")
        return cls(_positive_int(settings, "max_chars", DEFAULT_MAX_CHARS),
                   _positive_int(settings, "keywords_per_text", KEYWORDS_PER_TEXT), CategoryRules(categories),
                   _unit(settings, "category_evidence", DEFAULT_EVIDENCE), RiskModel(settings.get("risk")),
                   _model_folder(settings.get("model")))


class Analyzer:
    """Sentiment, target entities, complaint categories, risk and keywords for financial posts.

    `settings` is the `nlp:` section of the config (see `SETTINGS_KEYS` and the README's model card); a
    bad key raises `ConfigError("nlp", key, problem)` here, at start-up, not on the first post.
    Models are loaded once; the object holds no per-call state, so threads may share it.
    """

    def __init__(self, institutions: Sequence[Institution] = (),
                 settings: Mapping[str, Any] | AnalyzerSettings | None = None) -> None:
        parsed = settings if isinstance(settings, AnalyzerSettings) else AnalyzerSettings.parse(settings)
        self._max_chars = parsed.max_chars
        self._n_keywords = parsed.keywords_per_text
        self.categories = parsed.categories
        self._evidence = parsed.category_evidence
        self.risk = parsed.risk
        self.matcher = InstitutionMatcher(institutions)
        self._watched = frozenset(normalize(name) for name in self.matcher.surface_forms)
        self.model = _load_model(parsed.model)
        self._dictionary_lock = threading.Lock()
        self._dictionary_ready = False

    def analyze_batch(self, items: Sequence[AnalysisInput], *, keywords: bool = True) -> list[Analysis]:
        """Analyse texts; `keywords=False` skips the one step that needs word segmentation."""
        return [self._analyze(item, keywords) for item in items]

    def analyze_mentions(self, mentions: Sequence[Mention]) -> None:
        """Fill each mention's analysis fields in place. Institutions already on a mention (a Guba
        board's company, set by the crawler, though a post may never name it) are kept, by their
        canonical names, and those found in the text are added."""
        items = [AnalysisInput(m.content, m.title, None, m.source, m.engagement) for m in mentions]
        for mention, result in zip(mentions, self.analyze_batch(items), strict=True):
            corrected = mention.model_analysis
            known = [self.matcher.canonical(name) for name in corrected.get("institutions", mention.institutions)]
            values = {"institutions": list(dict.fromkeys([*known, *result.institutions])),
                      "polarity": result.polarity, "sentiment": result.sentiment,
                      "negative_entities": result.negative_entities, "categories": result.categories,
                      "risk": result.risk, "keywords": result.keywords, "why": result.why}
            for name, value in values.items():
                # A field a person corrected keeps their value; the model's opinion is kept beside it.
                if name in corrected:
                    corrected[name] = value
                else:
                    setattr(mention, name, value)
            mention.model_version = self.model.version

    def _analyze(self, item: AnalysisInput, keywords: bool) -> Analysis:
        text = normalize(join_title(item.title, item.text), self._max_chars)
        found = self.matcher.find(text)
        institutions = [name for _, name in found]
        if not text:
            return Analysis("neutral", 0.5, [], [], 0.0, institutions, [], {})
        # Entities are reported as given; found institutions by their canonical name.
        reported: dict[str, list[str]] = {}
        for written, shown in (((e, e) for e in item.entities) if item.entities is not None else found):
            reported.setdefault(normalize_name(written), []).append(shown)
        # Watched names are never name features: no prior learnt from the training news (nlp.features).
        doc = prepare_clean(text, list(reported), self._watched)
        complaint_words, evidence = self.categories.assess(doc.masked, doc.negated, self._evidence)
        found_categories = self.categories.codes(complaint_words)
        decided = self.model.assess(doc, normalize(item.title), evidence,
                                    complaint=complaint_features(complaint_words, found_categories))
        negative_entities: list[str] = []
        for name in decided.targets:
            negative_entities += [e for e in reported[name] if e not in negative_entities]
        negative = decided.polarity == "negative"
        # A question or praise that names a fee is no complaint: categories belong to negative posts,
        # and so does risk (the digest's riskiest list must hold complaints, not praise).
        categories = self.categories.report(doc.masked, found_categories) if negative else []
        risk = self.risk.score(decided.probs[0] if negative else 0.0, self.categories.severity(categories),
                               item.source, item.engagement)
        words = self._keywords(doc.text, [*reported, *self.matcher.surface_forms]) if keywords else []
        why = {"features": [f"{f} {w:+.2f}" for f, w in decided.cues], "categories": complaint_words,
               "negation": negation_cues(doc.masked)}
        return Analysis(decided.polarity, round(decided.probs[2], 4), negative_entities, categories, risk,
                        institutions, words, why)

    def _keywords(self, text: str, exclude: list[str]) -> list[str]:
        if not self._dictionary_ready:
            self._add_names_to_dictionary()
        return extract_keywords(text, self._n_keywords, exclude)

    def _add_names_to_dictionary(self) -> None:
        # On first use, not in __init__: adding a word loads jieba's dictionary (~0.6 s), which
        # `yuqing analyze` never needs, nor jieba itself. Institution names as words keep 招商银行
        # from being split.
        import jieba

        with self._dictionary_lock:
            if not self._dictionary_ready:
                for name in self.matcher.surface_forms:
                    jieba.add_word(name, freq=100_000)
                self._dictionary_ready = True


def _positive_int(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("nlp", f"nlp.{key}", f"must be a whole number ≥ 1, got {value!r}")
    return value


def _unit(settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError("nlp", f"nlp.{key}", f"must be a number from 0 to 1, got {value!r}")
    return float(value)


def _model_folder(path: Any) -> Path | None:
    """The folder named by `nlp.model`, checked; None for the shipped models."""
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise ConfigError("nlp", "nlp.model", "must be the path of a folder made by `yuqing train sentiment`")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError("nlp", "nlp.model",
                          f"{folder} is not a folder (make one with `yuqing train sentiment --out`)")
    return folder


def _load_model(folder: Path | None) -> SentimentModel:
    """The shipped models, or those in the folder named by `nlp.model`."""
    if folder is None:
        return _shipped_model()
    try:
        return SentimentModel.load(folder)
    except ModelFileError as e:
        raise ConfigError("nlp", "nlp.model", str(e)) from None


@lru_cache(maxsize=1)
def _shipped_model() -> SentimentModel:
    # Analyzers built in one process (a test suite, the scheduler's jobs) share the read-only weights.
    return SentimentModel.load()
