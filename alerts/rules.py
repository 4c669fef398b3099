"""Alert rule types, registered in `RULE_TYPES`: `spike` (volume), `share` (the negative share),
`silence` (a source gone quiet), `new_term` (a rare term suddenly frequent) and `saved_search`
(new mentions matching a search). A rule type
declares its options and validates them at start-up; `evaluate` looks at the store and says
whether the rule holds now. Severity is the detector's (`alerts.detect.severity`): one meaning of
关注 / 预警 / 紧急 for every rule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, TypedDict

from alerts.detect import SEVERITIES, analyse_series, analyse_share, severity, source_silence, term_bursts
from alerts.detect.silence import WALLED
from alerts.evidence import fetch
from yuqing.config import Config, ConfigError, Reader, parse_duration
from yuqing.datadir import DataDir
from yuqing.model import POLARITIES, Institution
from yuqing.query import Query, QuerySyntaxError, parse, positive_terms
from yuqing.storage.base import SearchRequest, Store


@dataclass(frozen=True)
class Spike:
    """The latest bucket of a series, judged unusual."""

    bucket_start: datetime
    bucket_end: datetime
    count: int
    baseline: float
    score: float
    severity: str  # 关注 | 预警 | 紧急 (alerts.detect.SEVERITIES)
    terms: tuple[str, ...] = ()  # new_term: the bursting terms, highest score first
    total: int = 0  # share: all mentions of the bucket (`count` is its negatives)


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


_LIFECYCLE_OPTIONS = frozenset({"name", "type", "institution", "cooldown", "max_cooldown", "resolve_after", "channels",
                                "top"})


class _Lifecycle(TypedDict):
    cooldown_seconds: int
    max_cooldown_seconds: int
    resolve_after_seconds: int
    top: int


def _lifecycle(r: Reader, default_resolve: str) -> _Lifecycle:
    """The options every rule type shares: how often it reminds and when it resolves."""
    cooldown = parse_duration(r.data.get("cooldown", "6h"), r.where, r.key("cooldown"))
    max_cooldown = parse_duration(r.data.get("max_cooldown", "48h"), r.where, r.key("max_cooldown"))
    if max_cooldown < cooldown:
        raise ConfigError(r.where, r.key("max_cooldown"), "must not be shorter than cooldown")
    return {"cooldown_seconds": cooldown, "max_cooldown_seconds": max_cooldown,
            "resolve_after_seconds": parse_duration(r.data.get("resolve_after", default_resolve), r.where,
                                                    r.key("resolve_after")),
            "top": int(_number(r, "top", 5, 1, 50))}


def _buckets(r: Reader, default_history: str) -> tuple[int, int]:
    """`bucket` and `history` of the rules that score a series of buckets."""
    bucket = parse_duration(r.data.get("bucket", "1h"), r.where, r.key("bucket"))
    history = parse_duration(r.data.get("history", default_history), r.where, r.key("history"))
    if history < 4 * bucket:
        raise ConfigError(r.where, r.key("history"), "must cover at least 4 buckets to give a baseline")
    if history // bucket > 20_000:
        raise ConfigError(r.where, r.key("bucket"), "too small for the history (more than 20 000 buckets)")
    return bucket, history


def _bucket_range(rule: SpikeRule | ShareRule, now: datetime) -> datetime:
    """The start of the history of buckets whose last one ends at `now` (a full bucket)."""
    return now - timedelta(seconds=(rule.history_seconds // rule.bucket_seconds + 1) * rule.bucket_seconds)


@dataclass(frozen=True)
class SpikeRule:
    """Mentions of one polarity per bucket; alert when the latest full bucket scores at least
    `threshold` with the causal detector (`alerts.detect`) against `history`, and has at least
    `min_count` mentions. While it keeps firing it reminds after `cooldown`, then after twice that,
    and so on up to `max_cooldown`; it resolves once the spike has been gone for `resolve_after`."""

    TYPE: ClassVar[str] = "spike"
    OPTIONS: ClassVar[frozenset[str]] = _LIFECYCLE_OPTIONS | {"polarity", "bucket", "history", "min_count",
                                                              "threshold"}

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
    top: int = 5  # mentions quoted in the alert

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> SpikeRule:
        polarity = r.str("polarity", "negative")
        if polarity not in (*POLARITIES, "any"):
            raise ConfigError(r.where, r.key("polarity"), f"{polarity!r} is not one of: {', '.join(POLARITIES)}, any")
        bucket, history = _buckets(r, "21d")
        return cls(name=name, institutions=_institutions(r, config), channels=channels, polarity=polarity,
                   bucket_seconds=bucket, history_seconds=history,
                   min_count=int(_number(r, "min_count", 5, 0, 1e9)),
                   threshold=_number(r, "threshold", 0.95, 0.0, 1.0),
                   **_lifecycle(r, r.data.get("bucket", "1h")))

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        """The latest bucket ends at `now`, so it is always a full bucket."""
        series = store.count_by_interval(_bucket_range(self, now), now, self.bucket_seconds,
                                         institution=institution.name,
                                         polarity=None if self.polarity == "any" else self.polarity)
        if not series:
            return None
        result = analyse_series([b for b, _ in series], [c for _, c in series], "up")
        start, count = series[-1]
        score, baseline = result.scores[-1], result.baselines[-1]
        if count < self.min_count or score < self.threshold:
            return None
        level = severity(score, count, self.min_count) or SEVERITIES[0]  # a threshold set below 关注's score
        return Spike(start, start + timedelta(seconds=self.bucket_seconds), count, baseline, score, level)


@dataclass(frozen=True)
class ShareRule:
    """The share of negative mentions per bucket (`alerts.detect.analyse_share`): alert when the
    latest full bucket's share scores at least `threshold` against `history` and the bucket holds
    at least `min_count` negative mentions. Count-aware: the test is binomial against the usual
    share, so 4 negatives of 5 posts is no crisis where a third are usually negative, 400 of 500
    is. Catches a turn in tone that the volume alone does not show (as many posts as usual, but
    most of them complaints). Reminders and resolving as for `spike`."""

    TYPE: ClassVar[str] = "share"
    OPTIONS: ClassVar[frozenset[str]] = _LIFECYCLE_OPTIONS | {"bucket", "history", "min_count", "threshold"}

    name: str
    institutions: tuple[Institution, ...]
    channels: tuple[str, ...]
    polarity: str = "negative"  # the mentions quoted: the negative ones
    bucket_seconds: int = 3600
    history_seconds: int = 14 * 86400  # the usual share is that of about the last week (SHARE_HALF_LIFE)
    min_count: int = 5
    threshold: float = 0.95
    cooldown_seconds: int = 6 * 3600
    max_cooldown_seconds: int = 48 * 3600
    resolve_after_seconds: int = 3600
    top: int = 5

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> ShareRule:
        bucket, history = _buckets(r, "14d")
        return cls(name=name, institutions=_institutions(r, config), channels=channels, bucket_seconds=bucket,
                   history_seconds=history, min_count=int(_number(r, "min_count", 5, 1, 1e9)),
                   threshold=_number(r, "threshold", 0.95, 0.0, 1.0), **_lifecycle(r, r.data.get("bucket", "1h")))

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        since = _bucket_range(self, now)
        totals = store.count_by_interval(since, now, self.bucket_seconds, institution=institution.name)
        negatives = store.count_by_interval(since, now, self.bucket_seconds, institution=institution.name,
                                            polarity="negative")
        if not totals:
            return None
        result = analyse_share([b for b, _ in totals], [n for _, n in negatives], [t for _, t in totals])
        (start, total), count = totals[-1], negatives[-1][1]
        score, share = result.scores[-1], result.baselines[-1]
        if count < self.min_count or score < self.threshold:
            return None
        level = severity(score, count, self.min_count) or SEVERITIES[0]
        # the baseline is a count, as for spikes: the negatives expected at the usual share
        return Spike(start, start + timedelta(seconds=self.bucket_seconds), count, share * total, score, level,
                     total=total)


@dataclass(frozen=True)
class SilenceRule:
    """A source whose mentions stop for longer than twice its usual gap, or whose crawl health is
    blocked / login-required / failing for longer than that gap (`alerts.detect.source_silence`):
    the crawler broke or its cookie expired. Alerts are grouped per source (the alert's `source`;
    its `institution` is empty); severity 预警 (nothing comes in: act today). Resolves once
    mentions arrive again and the health is no longer walled, for `resolve_after` (30 min)."""

    TYPE: ClassVar[str] = "silence"
    OPTIONS: ClassVar[frozenset[str]] = (_LIFECYCLE_OPTIONS - {"institution"}) | {"source", "history", "min_gap",
                                                                                   "default_gap"}
    SEVERITY: ClassVar[str] = SEVERITIES[1]

    name: str
    institutions: tuple[Institution, ...]  # one per watched source, named after it (the alert's group)
    channels: tuple[str, ...]
    data_dir: Path = Path()
    polarity: str = "any"
    history_seconds: int = 14 * 86400
    min_gap_seconds: int = 3600
    default_gap_seconds: int = 6 * 3600
    cooldown_seconds: int = 6 * 3600
    max_cooldown_seconds: int = 48 * 3600
    resolve_after_seconds: int = 1800
    top: int = 5

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> SilenceRule:
        value = r.data.get("source", "*")
        wanted = [value] if isinstance(value, str) else value
        known = [s.name for s in config.sources]
        if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
            raise ConfigError(r.where, r.key("source"), 'must be "*", a source name or a list of names')
        for w in wanted:
            if w != "*" and w not in known:
                raise ConfigError(r.where, r.key("source"),
                                  f"{w!r} is not a configured source (known: {', '.join(known) or 'none configured'})")
        names = known if "*" in wanted else list(dict.fromkeys(wanted))
        return cls(name=name, institutions=tuple(Institution(n) for n in names), channels=channels,
                   data_dir=Path(config.data_dir),
                   history_seconds=parse_duration(r.data.get("history", "14d"), r.where, r.key("history")),
                   min_gap_seconds=parse_duration(r.data.get("min_gap", "1h"), r.where, r.key("min_gap")),
                   default_gap_seconds=parse_duration(r.data.get("default_gap", "6h"), r.where, r.key("default_gap")),
                   **_lifecycle(r, "30m"))

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        source = institution.name
        since = now - timedelta(seconds=self.history_seconds)
        arrivals = [m.published_at or m.fetched_at for m in fetch(store, since, now, source=source)]
        health = DataDir(self.data_dir).read_health(source)
        state = health.state if health is not None and health.state in WALLED else None
        walled_since = _health_since(health.finished_at if health else "", now) if state else None
        found = source_silence(source, arrivals, now, state, walled_since,
                               timedelta(seconds=self.min_gap_seconds), timedelta(seconds=self.default_gap_seconds))
        if found is None:
            return None
        usual = found.usual_gap.total_seconds() / 3600 if found.usual_gap else 0.0
        return Spike(found.since, now, 0, usual, 0.0, self.SEVERITY)


def _health_since(finished_at: str, now: datetime) -> datetime:
    """When the crawl that recorded the walled state finished; `now` when it does not say."""
    try:
        at = datetime.fromisoformat(finished_at)
    except ValueError:
        return now
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)


@dataclass(frozen=True)
class NewTermRule:
    """A keyword rarely seen in `history` (at most `max_history_share` of the institution's mentions)
    found in at least `min_count` mentions of the last `window` (`alerts.detect.term_bursts`, on the
    stored mentions' keywords): a product name next to 暴雷. Severity from the burst's score and
    count, as for spikes; the alert's keywords start with the bursting terms."""

    TYPE: ClassVar[str] = "new_term"
    OPTIONS: ClassVar[frozenset[str]] = _LIFECYCLE_OPTIONS | {"window", "history", "min_count", "threshold",
                                                              "max_history_share"}

    name: str
    institutions: tuple[Institution, ...]
    channels: tuple[str, ...]
    polarity: str = "any"
    window_seconds: int = 6 * 3600
    history_seconds: int = 14 * 86400
    min_count: int = 5
    threshold: float = 0.95
    max_history_share: float = 0.01
    cooldown_seconds: int = 6 * 3600
    max_cooldown_seconds: int = 48 * 3600
    resolve_after_seconds: int = 6 * 3600
    top: int = 5

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> NewTermRule:
        window = parse_duration(r.data.get("window", "6h"), r.where, r.key("window"))
        history = parse_duration(r.data.get("history", "14d"), r.where, r.key("history"))
        if history <= window:
            raise ConfigError(r.where, r.key("history"), "must be longer than window")
        return cls(name=name, institutions=_institutions(r, config), channels=channels, window_seconds=window,
                   history_seconds=history, min_count=int(_number(r, "min_count", 5, 1, 1e9)),
                   threshold=_number(r, "threshold", 0.95, 0.0, 1.0),
                   max_history_share=_number(r, "max_history_share", 0.01, 0.0, 1.0),
                   **_lifecycle(r, r.data.get("window", "6h")))

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        start = now - timedelta(seconds=self.window_seconds)
        recent = fetch(store, start, now, institution.name)
        history = fetch(store, now - timedelta(seconds=self.history_seconds), start, institution.name)
        bursts = term_bursts([m.keywords for m in recent], [m.keywords for m in history], self.min_count,
                             self.max_history_share, self.threshold)
        if not bursts:
            return None
        top = bursts[0]
        level = severity(top.score, top.count, self.min_count) or SEVERITIES[0]
        return Spike(start, now, top.count, top.expected, top.score, level, tuple(b.term for b in bursts))


@dataclass(frozen=True)
class SavedSearchRule:
    """A search kept as an alert: mentions of the institution that match `query` (the search
    language, as on the search page; `polarity` and `source` as its filters) — at least `min_count`
    in the last `window` — raise an alert of `severity`, which reminds and resolves as the other
    rules do. No anomaly score: a match is the news (the alert's score is 0); the baseline is the
    matches per window in the `history` before it. Besides `alerts.rules`, the web app turns its
    saved searches into such rules (`app.web.saved_alerts`, through `alerts.setup.extra_rule`)."""

    TYPE: ClassVar[str] = "saved_search"
    OPTIONS: ClassVar[frozenset[str]] = _LIFECYCLE_OPTIONS | {"query", "polarity", "source", "window", "history",
                                                              "min_count", "severity"}

    name: str
    institutions: tuple[Institution, ...]
    channels: tuple[str, ...]
    query: Query
    polarity: str = "any"
    source: str = ""
    window_seconds: int = 3600
    history_seconds: int = 7 * 86400
    min_count: int = 1
    severity: str = SEVERITIES[0]
    cooldown_seconds: int = 6 * 3600
    max_cooldown_seconds: int = 48 * 3600
    resolve_after_seconds: int = 3600
    top: int = 5

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, channels: tuple[str, ...]) -> SavedSearchRule:
        text = r.str("query", required=True)
        try:
            query = parse(text)
        except QuerySyntaxError as e:
            raise ConfigError(r.where, r.key("query"), str(e)) from None
        if not positive_terms(query):
            raise ConfigError(r.where, r.key("query"), "needs at least one term to look for (not only NOT terms)")
        polarity = r.str("polarity", "any")
        if polarity not in (*POLARITIES, "any"):
            raise ConfigError(r.where, r.key("polarity"), f"{polarity!r} is not one of: {', '.join(POLARITIES)}, any")
        source = r.str("source", "")
        if source and source not in {s.name for s in config.sources}:
            raise ConfigError(r.where, r.key("source"), f"{source!r} is not a configured source")
        level = r.str("severity", SEVERITIES[0])
        if level not in SEVERITIES:
            raise ConfigError(r.where, r.key("severity"), f"{level!r} is not one of: {', '.join(SEVERITIES)}")
        window = parse_duration(r.data.get("window", "1h"), r.where, r.key("window"))
        history = parse_duration(r.data.get("history", "7d"), r.where, r.key("history"))
        if history <= window:
            raise ConfigError(r.where, r.key("history"), "must be longer than window")
        return cls(name=name, institutions=_institutions(r, config), channels=channels, query=query,
                   polarity=polarity, source=source, window_seconds=window, history_seconds=history,
                   min_count=int(_number(r, "min_count", 1, 1, 1e9)), severity=level,
                   **_lifecycle(r, r.data.get("window", "1h")))

    def _count(self, store: Store, institution: Institution, since: datetime, until: datetime) -> int:
        return store.search(SearchRequest(query=self.query, since=since, until=until, institution=institution.name,
                                          polarity=None if self.polarity == "any" else self.polarity,
                                          source=self.source or None, limit=0)).total

    def evaluate(self, store: Store, institution: Institution, now: datetime) -> Spike | None:
        start = now - timedelta(seconds=self.window_seconds)
        count = self._count(store, institution, start, now)
        if count < self.min_count:
            return None
        before = self._count(store, institution, now - timedelta(seconds=self.history_seconds), start)
        baseline = before * self.window_seconds / (self.history_seconds - self.window_seconds)
        return Spike(start, now, count, baseline, 0.0, self.severity, tuple(positive_terms(self.query)))


Rule = SpikeRule | ShareRule | SilenceRule | NewTermRule | SavedSearchRule
RULE_TYPES: dict[str, type[Rule]] = {r.TYPE: r for r in (SpikeRule, ShareRule, SilenceRule, NewTermRule,
                                                         SavedSearchRule)}


def subject(rule: Rule, group: str) -> dict[str, str]:
    """The alert fields naming one group of a rule (one name of `rule.institutions`): its
    institution, or its source for the rule that watches sources."""
    return {"institution": "", "source": group} if isinstance(rule, SilenceRule) else {"institution": group,
                                                                                        "source": ""}
