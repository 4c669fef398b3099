"""Risk score: how much a mention deserves attention, 0..1.

    risk = negativity × (w_neg + w_cat·severity + w_src·influence + w_eng·reach) / (w_neg + w_cat + w_src + w_eng)

- negativity: the probability that the text is negative about its subject (0..1). It multiplies
  everything, so praise with a million likes is not a risk.
- severity: the highest severity among the complaint categories found (0 when none; see
  `nlp.categories`).
- influence: how far a source's posts travel (`SOURCE_INFLUENCE`, unknown sources 0.5).
- reach: log-scaled engagement, log(1 + engagement) / log(1 + engagement_scale), capped at 1.

Config (`nlp.risk`): `weights` (any of negativity, category, source, engagement),
`sources` (source → influence 0..1, merged over the defaults) and `engagement_scale`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from yuqing.config import ConfigError

DEFAULT_WEIGHTS = {"negativity": 0.4, "category": 0.3, "source": 0.15, "engagement": 0.15}
SOURCE_INFLUENCE = {"news": 0.8, "weibo": 0.7, "heimao": 0.9, "guba": 0.5, "tieba": 0.4, "rss": 0.6}
DEFAULT_INFLUENCE = 0.5
DEFAULT_ENGAGEMENT_SCALE = 10_000


def _unit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError("nlp", key, f"must be a number from 0 to 1, got {value!r}")
    return float(value)


class RiskModel:
    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        settings = settings or {}
        if not isinstance(settings, Mapping):
            raise ConfigError("nlp", "nlp.risk", "must be a mapping (weights, sources, engagement_scale)")
        unknown = sorted(set(settings) - {"weights", "sources", "engagement_scale"})
        if unknown:
            raise ConfigError("nlp", f"nlp.risk.{unknown[0]}",
                              "unknown key (allowed: engagement_scale, sources, weights)")
        weights = settings.get("weights") or {}
        sources = settings.get("sources") or {}
        for name, value in (("weights", weights), ("sources", sources)):
            if not isinstance(value, Mapping):
                raise ConfigError("nlp", f"nlp.risk.{name}", "must be a mapping")
        bad = sorted(set(weights) - set(DEFAULT_WEIGHTS))
        if bad:
            raise ConfigError("nlp", f"nlp.risk.weights.{bad[0]}",
                              f"unknown weight (allowed: {', '.join(DEFAULT_WEIGHTS)})")
        self.weights = {**DEFAULT_WEIGHTS, **{k: _unit(v, f"nlp.risk.weights.{k}") for k, v in weights.items()}}
        if self.weights["negativity"] <= 0:
            raise ConfigError("nlp", "nlp.risk.weights.negativity", "must be above 0")
        self.influence = {**SOURCE_INFLUENCE, **{k: _unit(v, f"nlp.risk.sources.{k}") for k, v in sources.items()}}
        scale = settings.get("engagement_scale", DEFAULT_ENGAGEMENT_SCALE)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale < 1:
            raise ConfigError("nlp", "nlp.risk.engagement_scale", f"must be a number ≥ 1, got {scale!r}")
        self._log_scale = math.log1p(scale)

    def score(self, negativity: float, severity: float, source: str, engagement: int) -> float:
        w = self.weights
        reach = min(1.0, math.log1p(max(0, engagement)) / self._log_scale)
        influence = self.influence.get(source, DEFAULT_INFLUENCE)
        total = (w["negativity"] + w["category"] * severity + w["source"] * influence + w["engagement"] * reach)
        return round(min(1.0, max(0.0, negativity * total / sum(w.values()))), 4)
