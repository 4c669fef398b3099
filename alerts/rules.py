"""Alert rule types, registered in `RULE_TYPES`. A rule type declares its options and validates
them at start-up; `evaluate` looks at the store and says whether the latest bucket is a spike."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from alerts.detect import analyse_series
from yuqing.alertstore.model import SEVERITIES
from yuqing.config import Config, ConfigError, Reader, parse_duration
from yuqing.model import POLARITIES, Institution
from yuqing.storage.base import Store


@dataclass(frozen=True)
class Spike:
    """The latest bucket of a series, judged unusual."""

    bucket_start: datetime
    bucket_end: datetime
    count: int
    baseline: float
    score: float
    severity: str  # 关注 | 预警 | 紧急 (yuqing.alertstore.model.SEVERITIES)


def _institutions(r: Reader, config: Config) -> tuple[Institution, ...]:
    """`institution`: "*" (every configured one, the default), a name or alias, or a list of them."""
    value = r.data.get("institution", "*")
    wanted = [value] if isinstance(value, str) else value
    if not isinstance(wanted, list) or not all(isinstance(w, str) and w.strip() for w in wanted):
        raise ConfigError(r.where, r.key("institution"), 'must be "*", an institution name or a list of names')
    if "*" in wanted:
        return config.institutions
    found = []
    for w in wanted:
        match = next((inst for inst in config.institutions if w.strip() in inst.names), None)
        if match is None:
            known = ", ".join(i.name for i in config.institutions) or "none configured"
            raise ConfigError(r.where, r.key("institution"), f"{w!r} is not a configured institution (known: {known})")
        found.append(match)
    return tuple(dict.fromkeys(found))


def _number(r: Reader, name: str, default: float, low: float, high: float) -> float:
    value = r.data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(r.where, r.key(name), f"must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SpikeRule:
    """Mentions of one polarity per bucket; alert when the latest full bucket scores at least
    `threshold` with the causal detector (`alerts.detect`) against `history`, and has at least
    `min_count` mentions. While it keeps firing it reminds after `cooldown`, then after twice that,
    and so on up to `max_cooldown`; it resolves once the spike has been gone for `resolve_after`.
    Severity: 关注 when it fires; 预警 at `warn_ratio` times the usual count; 紧急 at `urgent_ratio`."""

    TYPE: ClassVar[str] = "spike"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "name", "type", "polarity", "institution", "bucket", "history", "min_count", "threshold",
        "cooldown", "max_cooldown", "resolve_after", "warn_ratio", "urgent_ratio", "channels", "top"})

    name: str
    institutions: tuple[Institution, ...]
    channels: tuple[str, ...]
    polarity: str = "negative"
    bucket_seconds: int = 3600
    history_seconds: int = 21 * 86400  # the weekly profile needs two weeks before it can judge
    min_count: int = 5
    threshold: float = 0.95
    cooldown_seconds: int = 6 * 3600
    max_cooldown_seconds: int = 48 * 3600
    resolve_after_seconds: int = 3600
    warn_ratio: float = 3.0
    urgent_ratio: float = 6.0
    top: int = 5  # mentions quoted in the alert

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> SpikeRule:
        polarity = r.str("polarity", "negative")
        if polarity not in (*POLARITIES, "any"):
            raise ConfigError(r.where, r.key("polarity"), f"{polarity!r} is not one of: {', '.join(POLARITIES)}, any")
        bucket = parse_duration(r.data.get("bucket", "1h"), r.where, r.key("bucket"))
        history = parse_duration(r.data.get("history", "21d"), r.where, r.key("history"))
        if history < 4 * bucket:
            raise ConfigError(r.where, r.key("history"), "must cover at least 4 buckets to give a baseline")
        if history // bucket > 20_000:
            raise ConfigError(r.where, r.key("bucket"), "too small for the history (more than 20 000 buckets)")
        cooldown = parse_duration(r.data.get("cooldown", "6h"), r.where, r.key("cooldown"))
        max_cooldown = parse_duration(r.data.get("max_cooldown", "48h"), r.where, r.key("max_cooldown"))
        if max_cooldown < cooldown:
            raise ConfigError(r.where, r.key("max_cooldown"), "must not be shorter than cooldown")
        warn = _number(r, "warn_ratio", 3.0, 1.0, 1e6)
        urgent = _number(r, "urgent_ratio", max(6.0, warn), warn, 1e6)
        return cls(
            name=name, institutions=_institutions(r, config), channels=channels, polarity=polarity,
            bucket_seconds=bucket, history_seconds=history,
            min_count=int(_number(r, "min_count", 5, 0, 1e9)),
            threshold=_number(r, "threshold", 0.95, 0.0, 1.0),
            cooldown_seconds=cooldown, max_cooldown_seconds=max_cooldown,
            resolve_after_seconds=parse_duration(r.data.get("resolve_after", r.data.get("bucket", "1h")), r.where,
                                                 r.key("resolve_after")),
            warn_ratio=warn, urgent_ratio=urgent, top=int(_number(r, "top", 5, 1, 50)))

    def severity(self, count: int, baseline: float) -> str:
        """How far above the usual count: 紧急 from `urgent_ratio` times it, 预警 from `warn_ratio`."""
        ratio = count / max(baseline, 1.0)  # below one mention an hour, "usual" is one
        if ratio >= self.urgent_ratio:
            return SEVERITIES[2]
        return SEVERITIES[1] if ratio >= self.warn_ratio else SEVERITIES[0]

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        """The latest bucket ends at `now`, so it is always a full bucket."""
        n = self.history_seconds // self.bucket_seconds + 1
        since = now - timedelta(seconds=n * self.bucket_seconds)
        series = store.count_by_interval(since, now, self.bucket_seconds, institution=institution.name,
                                         polarity=None if self.polarity == "any" else self.polarity)
        if not series:
            return None
        result = analyse_series([b for b, _ in series], [c for _, c in series], "up")
        start, count = series[-1]
        score, baseline = result.scores[-1], result.baselines[-1]
        if count < self.min_count or score < self.threshold:
            return None
        return Spike(start, start + timedelta(seconds=self.bucket_seconds), count, baseline, score,
                     self.severity(count, baseline))


Rule = SpikeRule  # the union of rule types; widen when a second type is registered
RULE_TYPES: dict[str, type[SpikeRule]] = {SpikeRule.TYPE: SpikeRule}
