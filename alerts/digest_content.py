"""What a digest says, per institution in the reader's scope: the figures, the risk level and why,
the chart's series, categories and sources against the period before, the top negative mentions
(reposts merged), rising keywords, the period's stories, its alerts with their state, and the
response times of its cases.

Counts, the timeline by polarity, sources and categories come from the store's own counting (the
search facets, `Store.count_by_interval` for the history), so they are exact however many mentions
there are; the lists (negative mentions, keywords, stories) are taken from the period's mentions as
read by `evidence.fetch`, at most `evidence.FETCH_LIMIT` of them.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alerts import evidence
from alerts.period import Period
from nlp.keywords import is_name_part
from yuqing.alertstore.base import AlertStore
from yuqing.alertstore.model import AlertQuery, AlertRecord, CaseQuery
from yuqing.cases import CaseKpis, response_kpis
from yuqing.config import Config
from yuqing.model import POLARITIES, Institution, Mention, is_web_url
from yuqing.query import parse
from yuqing.storage.base import FacetRequest, Facets, SearchRequest, Store

TOP_NEGATIVE = 5
TOP_SOURCES = 6
TOP_CATEGORIES = 8
FACET_SIZE = 20  # values per facet asked of the store: enough for both periods' top categories
TOP_KEYWORDS = 10
TOP_STORIES = 5
MAX_CASES = 5000  # cases read per institution: the store lists them newest first
STORY_THRESHOLD = 0.5  # Jaccard of 3-gram sets: looser than a repost, one event told in other words
HIGH_RISK = 0.8  # a mention's risk from here on counts as high
SNIPPET_CHARS = 120
# With no institutions configured (the built-in defaults), the digest covers every stored mention.
EVERYTHING = Institution("全部")


@dataclass(frozen=True)
class Figures:
    total: float
    negative: float

    @property
    def share(self) -> float | None:
        return self.negative / self.total if self.total else None


@dataclass
class Quoted:
    """A negative mention in the top list, with its reposts merged in."""

    mention: Mention
    reposts: int
    risk: float  # the highest of the group
    snippet: str
    url: str  # the original, when it is http(s); else ""
    page_url: str  # the web app's page of the mention, when web.base_url is set


@dataclass
class Story:
    title: str
    count: int
    negative: int
    sources: int
    first_seen: datetime


@dataclass
class AlertLine:
    record: AlertRecord
    state: str  # in Chinese, with who and when
    accepted_after: float | None  # hours from the alert to its acknowledgement


@dataclass
class InstitutionDigest:
    name: str
    now: Figures
    previous: Figures
    average: Figures
    level: str  # 高 / 中 / 低
    reason: str
    series: dict[str, list[int]]  # polarity (and "other") → count per bucket
    categories: list[tuple[str, int, int]]  # (label, this period, the one before)
    sources: list[tuple[str, str, int, int]]  # (source, platform, mentions, negative)
    negative: list[Quoted]
    keywords: list[tuple[str, int, int]]  # (word, mentions this period, the one before)
    stories: list[Story]
    alerts: list[AlertLine]
    responses: CaseKpis  # the negative cases opened in the period (yuqing.cases: 48 h, five working days)
    high_risk: int  # negative mentions at or above HIGH_RISK
    truncated: bool = False  # more mentions than evidence.FETCH_LIMIT: lists from the newest


@dataclass
class DigestData:
    title: str
    period: Period
    generated_at: datetime
    institutions: list[InstitutionDigest] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.institutions]

    def totals(self) -> tuple[int, int]:
        """(mentions, negative) over every institution of the digest."""
        return (int(sum(i.now.total for i in self.institutions)), int(sum(i.now.negative for i in self.institutions)))


def _counts(store: Store, since: datetime, until: datetime, step: int, name: str | None,
            polarity: str | None = None) -> list[int]:
    return [n for _, n in store.count_by_interval(since, until, step, institution=name, polarity=polarity)]


def _figures(store: Store, period: Period, name: str | None) -> tuple[Figures, Figures]:
    """The period before, and the average of the `history_count` before this one."""
    step = int(period.length.total_seconds())
    total = _counts(store, period.history_start(), period.start, step, name)
    negative = _counts(store, period.history_start(), period.start, step, name, "negative")
    n = len(total) or 1
    return Figures(total[-1], negative[-1]), Figures(sum(total) / n, sum(negative) / n)


def _facets(store: Store, since: datetime, until: datetime, name: str | None, step: int,
            polarity: str | None = None) -> tuple[int, Facets]:
    """(how many, their facets) of the mentions in [since, until): one search that counts."""
    result = store.search(SearchRequest(query=parse(""), since=since, until=until, institution=name, polarity=polarity,
                                        limit=0, facets=FacetRequest(interval_seconds=step, size=FACET_SIZE)))
    assert result.facets is not None  # asked for
    return result.total, result.facets


def _series(period: Period, total: int, facets: Facets) -> tuple[dict[str, list[int]], Figures]:
    """Mentions per bucket of the period by polarity (the timeline facet lists only the buckets
    between the first and the last that hold any)."""
    n = int(period.length.total_seconds()) // period.bucket_seconds
    series = {p: [0] * n for p in POLARITIES}
    other = [0] * n
    for bucket in facets.timeline:
        i = int((bucket.start - period.start).total_seconds()) // period.bucket_seconds
        for polarity, count in bucket.counts.items():
            (series[polarity] if polarity in series else other)[i] += count
    if any(other):  # mentions not analysed (yet), or of a polarity the chart does not know
        series["other"] = other
    return series, Figures(total, sum(series["negative"]))


def _about(m: Mention, name: str | None) -> bool:
    """Negative about this institution: negative, and not aimed only at another one it names."""
    return m.polarity == "negative" and (name is None or not m.negative_entities or name in m.negative_entities)


def _snippet(m: Mention) -> str:
    text = " ".join(m.content.split()) or m.title
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"


def _quoted(groups: list[list[Mention]], base_url: str) -> list[Quoted]:
    out = []
    for members in groups:
        head = members[0]
        out.append(Quoted(head, len(members) - 1, max(m.risk or 0.0 for m in members), _snippet(head),
                          head.url if is_web_url(head.url) else "",
                          f"{base_url}/mentions/{head.id}" if base_url else ""))
    out.sort(key=lambda q: (q.risk, q.reposts, q.mention.engagement), reverse=True)
    return out[:TOP_NEGATIVE]


def _categories(now: Facets, before: Facets, labels: dict[str, str]) -> list[tuple[str, int, int]]:
    """Complaint categories of the negative mentions, against the period before."""
    a, b = Counter(dict(now.categories)), Counter(dict(before.categories))
    ranked = sorted(set(a) | set(b), key=lambda c: (-a[c], -b[c], c))[:TOP_CATEGORIES]
    return [(labels.get(c, c), a[c], b[c]) for c in ranked]


def _sources(every: Facets, negative: Facets, mentions: Sequence[Mention]) -> list[tuple[str, str, int, int]]:
    platform = {m.source: m.platform for m in mentions}  # a source's kind of site, as its mentions say
    counted = dict(negative.sources)
    return [(s, platform.get(s, ""), n, counted.get(s, 0)) for s, n in every.sources[:TOP_SOURCES]]


def _rising(now: Sequence[Mention], before: Sequence[Mention], institution: Institution) -> list[tuple[str, int, int]]:
    """Words more frequent than in the period before (by mentions carrying them), never the
    institution's names or pieces of them."""
    def count(ms: Sequence[Mention]) -> Counter[str]:
        return Counter(w for m in ms for w in dict.fromkeys(m.keywords) if not is_name_part(w, institution.names))

    a, b = count(now), count(before)
    scale = max(len(now), 1) / max(len(before), 1)  # a busier period is not a rise of every word
    rising = [(w, n, b[w]) for w, n in a.items() if n >= 3 and n >= 1.5 * b[w] * scale]
    rising.sort(key=lambda x: ((x[1] + 1) / (x[2] * scale + 1), x[1]), reverse=True)
    return rising[:TOP_KEYWORDS]


def _stories(mentions: Sequence[Mention], institution: Institution) -> list[Story]:
    """Groups of similar posts (MinHash over character 3-grams, the institution's names masked so
    they do not make unrelated posts alike); only groups of two or more."""
    if len(mentions) < 2:
        return []
    from nlp.clusters import near_duplicate_clusters

    def masked(m: Mention) -> str:
        text = m.text
        for n in institution.names:
            text = text.replace(n, "Ｅ")
        return text

    clusters: dict[int, list[Mention]] = {}
    for m, c in zip(mentions, near_duplicate_clusters([masked(m) for m in mentions], STORY_THRESHOLD), strict=True):
        clusters.setdefault(c, []).append(m)
    out = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        first = min(members, key=lambda m: m.published_at or m.fetched_at)
        out.append(Story(first.title or _snippet(first), len(members),
                         sum(m.polarity == "negative" for m in members), len({m.source for m in members}),
                         first.published_at or first.fetched_at))
    out.sort(key=lambda s: (s.count, s.negative), reverse=True)
    return out[:TOP_STORIES]


def _state(r: AlertRecord, config: Config) -> str:
    def at(t: datetime | None) -> str:
        return f"{t.astimezone(config.tz):%m-%d %H:%M}" if t else ""

    if r.state == "resolved":
        by = f"，{r.acknowledged_by} 已受理" if r.acknowledged_by else ""
        return f"已解除（{at(r.resolved_at)}{by}）"
    if r.state == "acknowledged":
        return f"已受理（{r.acknowledged_by}，{at(r.acknowledged_at)}）"
    if r.state == "silenced":
        return "已静默"
    return "未受理"


def assess(now: Figures, average: Figures, alerts: Sequence[AlertRecord], high_risk: int,
           period: Period) -> tuple[str, str]:
    """The period's risk level (高 / 中 / 低) and the one sentence that says why."""
    urgent = [a for a in alerts if a.severity == "紧急"]
    ratio = now.negative / average.negative if average.negative else None
    times = f"是{period.average_noun}（{average.negative:.1f} 条）的 {ratio:.1f} 倍" if ratio else \
        f"{period.average_noun}为 {average.negative:.1f} 条"
    if urgent:
        return "高", f"{period.noun}有 {len(urgent)} 次紧急告警，负面 {now.negative:.0f} 条，{times}。"
    if now.negative >= 5 and (ratio is None or ratio >= 2):
        return "高", f"负面 {now.negative:.0f} 条，{times}。"
    if high_risk >= 3:
        return "高", f"{period.noun}有 {high_risk} 条高风险负面内容（风险 ≥ {HIGH_RISK}）。"
    share_up = (now.share or 0) - (average.share or 0)
    if alerts:
        return "中", f"{period.noun}有 {len(alerts)} 次告警，负面 {now.negative:.0f} 条，{times}。"
    if now.negative >= 3 and (ratio is None or ratio >= 1.3):
        return "中", f"负面 {now.negative:.0f} 条，{times}。"
    if now.total >= 10 and share_up >= 0.10:
        return "中", f"负面占比 {now.share:.0%}，比{period.average_noun}高 {share_up * 100:.0f} 个百分点。"
    if high_risk:
        return "中", f"{period.noun}有 {high_risk} 条高风险负面内容（风险 ≥ {HIGH_RISK}）。"
    return "低", f"负面 {now.negative:.0f} 条，{times}，无告警。"


def collect_institution(config: Config, store: Store, alert_store: AlertStore, period: Period,
                        institution: Institution, now: datetime) -> InstitutionDigest:
    name = None if institution is EVERYTHING else institution.name
    total, every = _facets(store, period.start, period.end, name, period.bucket_seconds)
    series, current = _series(period, total, every)
    _, negative_facets = _facets(store, period.start, period.end, name, period.bucket_seconds, "negative")
    _, before_facets = _facets(store, period.previous().start, period.start, name, period.bucket_seconds, "negative")
    previous, average = _figures(store, period, name)
    mentions = evidence.fetch(store, period.start, period.end, institution=name)
    before = evidence.fetch(store, period.previous().start, period.start, institution=name)
    negative = [m for m in mentions if _about(m, name)]
    alerts = sorted(alert_store.list_alerts(AlertQuery(institution=name, since=period.start, until=period.end,
                                                       limit=1000)), key=lambda r: r.started_at)
    cases = [c for c in alert_store.list_cases(CaseQuery(institutions=(institution.name,), limit=MAX_CASES))
             if period.start <= c.opened_at < period.end]
    high_risk = sum((m.risk or 0) >= HIGH_RISK for m in negative)
    level, reason = assess(current, average, alerts, high_risk, period)
    labels = evidence.category_labels(config)
    return InstitutionDigest(
        name=institution.name, now=current, previous=previous, average=average, level=level, reason=reason,
        series=series,
        categories=_categories(negative_facets, before_facets, labels),
        sources=_sources(every, negative_facets, mentions),
        negative=_quoted(evidence.repost_groups(negative), config.web.base_url),
        keywords=_rising(mentions, before, institution),
        stories=_stories(mentions, institution),
        alerts=[AlertLine(r, _state(r, config), (r.acknowledged_at - r.started_at).total_seconds() / 3600
                          if r.acknowledged_at else None) for r in alerts],
        responses=response_kpis(cases, now),
        high_risk=high_risk,
        truncated=current.total > len(mentions))


def collect(config: Config, store: Store, alert_store: AlertStore, period: Period, scope: Sequence[str] = (),
            now: datetime | None = None) -> DigestData:
    """The digest over `period` for the institutions in `scope` (empty: every watched one)."""
    now = now or datetime.now(config.tz)
    title = config.digest.title if period.kind == "weekly" else config.digest.daily.title
    watched = [i for i in config.institutions if not scope or i.name in scope] or [EVERYTHING]
    return DigestData(title, period, now,
                      [collect_institution(config, store, alert_store, period, i, now) for i in watched])
