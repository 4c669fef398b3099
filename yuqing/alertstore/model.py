"""The records the alert store keeps. They live in the core, below the `alerts/` stage, so that the
stores, the CLI and (later) the web app share them without importing the stage.

- `Alert`: what a notice says — one spike of one institution (or one source gone quiet) with the
  evidence a reader acts on.
- `AlertRecord`: the life of one alert (grouped per rule + institution, or rule + source for the
  rules that watch sources): firing, acknowledged, silenced, resolved; who acknowledged it and why;
  when it may notify again.
- `Delivery`: one notice to one channel, keyed by an idempotency key per alert × channel × notice
  kind; pending until the channel took it.
- `Silence`: a matcher (institution, rule, highest severity) muted until a time, by whom and why.
- `Case`: the handling of one negative mention (受理 / 答复): who handles it, its status, the
  response noted, when it was accepted and answered, and who did what when.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

POLARITY_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面", "any": "全部"}
# Lowest first. 关注: worth a look; 预警: act today; 紧急: act now (goes through quiet hours).
SEVERITIES = ("关注", "预警", "紧急")
STATES = ("firing", "acknowledged", "resolved", "silenced")
OPEN_STATES = ("firing", "acknowledged", "silenced")
# What a notice announces: a new alert, a reminder while it keeps firing, a rise in severity, its end.
NOTICE_KINDS = ("firing", "repeat", "escalated", "resolved", "test")
# What the rule watched (its rule type): the title and headline facts of a notice depend on it.
ALERT_KINDS = ("spike", "share", "silence", "new_term")
ANY = "*"


def severity_rank(severity: str) -> int:
    """0 for 关注 … 2 for 紧急; ValueError names the allowed levels."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity {severity!r} is not one of: {', '.join(SEVERITIES)}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _encode(record: Any, times: tuple[str, ...], nested: tuple[str, ...] = ()) -> dict[str, Any]:
    """A record as JSON-ready dict: datetimes as ISO 8601, nested records by their `to_dict`."""
    out = {f.name: getattr(record, f.name) for f in fields(record)}
    for name in times:
        out[name] = _iso(out[name])
    for name in nested:
        out[name] = out[name].to_dict()
    return out


def _decode(cls: Any, data: dict[str, Any], times: tuple[str, ...], nested: tuple[str, ...] = ()) -> Any:
    """Inverse of `_encode`; unknown keys (from a newer version) are ignored. Nested records are
    `Alert`s, the only kind any record holds."""
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for name in times:
        kwargs[name] = _when(kwargs.get(name))
    for name in nested:
        kwargs[name] = Alert.from_dict(kwargs[name])
    return cls(**kwargs)


@dataclass
class AlertMention:
    """A mention quoted in an alert: enough to judge it and follow the link."""

    title: str
    url: str
    source: str
    published_at: str  # ISO 8601 in the configured timezone
    risk: float | None = None
    categories: list[str] = field(default_factory=list)  # Chinese labels
    reposts: int = 0  # reposts of it in the same bucket, merged into this one quote


@dataclass
class Alert:
    """`institution` is empty for an alert about a source (`source` set: the silence rule)."""

    rule: str
    institution: str
    polarity: str  # negative | neutral | positive | any
    bucket_start: datetime
    bucket_end: datetime
    count: int
    baseline: float  # the detector's expected count for this bucket
    score: float  # anomaly score in [0, 1]
    created_at: datetime
    mentions: list[AlertMention] = field(default_factory=list)
    categories: list[tuple[str, int]] = field(default_factory=list)  # (Chinese label, mentions)
    keywords: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    id: str = ""
    severity: str = SEVERITIES[0]
    notice: str = "firing"  # one of NOTICE_KINDS: what this copy of the alert announces
    sources: list[tuple[str, int]] = field(default_factory=list)  # (source, mentions in the bucket)
    search_url: str = ""  # where to read every mention of the bucket (the web app, when configured)
    kind: str = "spike"  # one of ALERT_KINDS
    source: str = ""  # the source an alert is about (silence), else empty
    total: int = 0  # share: all mentions in the bucket (`count` of them negative)

    def __post_init__(self) -> None:
        if not self.id:
            # one spike bucket of one rule and institution is one alert, wherever it is re-read
            key = f"{self.rule}|{self.subject}|{self.bucket_start.isoformat()}"
            self.id = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]

    @property
    def subject(self) -> str:
        """What the alert is about: the institution, or the source of a silence alert."""
        return self.institution or self.source

    @property
    def usual_share(self) -> float:
        """share: the share of negatives the detector expected (`baseline` is that × `total`)."""
        return self.baseline / self.total if self.total else 0.0

    @property
    def title(self) -> str:
        what = POLARITY_LABELS.get(self.polarity, self.polarity)
        if self.notice == "test":
            return f"【测试】{self.subject} 告警通道测试，无需处理"
        if self.notice == "resolved":
            if self.kind == "silence":
                return f"【已恢复】来源 {self.source} 已恢复采集"
            if self.kind == "share":
                return f"【已恢复】{self.institution} 负面占比已回落（通常约 {self.usual_share:.0%}）"
            return (f"【已恢复】{self.institution} {what}舆情已回落"
                    f"（最近 {self.count} 条，通常约 {self.baseline:.1f} 条）")
        tag = {"repeat": f"{self.severity}·持续", "escalated": f"升级为{self.severity}"}.get(self.notice, self.severity)
        if self.kind == "silence":
            return (f"【{tag}】来源 {self.source} 自 {self.bucket_start:%m-%d %H:%M} 起无新内容"
                    f"（通常间隔约 {self.baseline:.1f} 小时），请检查采集")
        if self.kind == "share":
            return (f"【{tag}】{self.institution} 负面占比升高：{self.count}/{self.total} 条"
                    f"（通常约 {self.usual_share:.0%}）")
        return f"【{tag}】{self.institution} {what}舆情激增：{self.count} 条（通常约 {self.baseline:.1f} 条）"

    def summary(self) -> str:
        """One line for logs and the command line."""
        period = f"{self.bucket_start:%Y-%m-%d %H:%M}–{self.bucket_end:%H:%M}"
        head = f"{period} {self.subject_label} [{self.rule}] {self.severity} {self.notice}"
        if self.kind == "silence":
            return f"{head}: no mentions since {self.bucket_start:%Y-%m-%d %H:%M}, usual gap ~{self.baseline:.1f} h"
        if self.kind == "share":
            return (f"{head}: {self.count} of {self.total} mention(s) negative, usual share "
                    f"~{self.usual_share:.0%}, score {self.score:.3f}")
        return (f"{head}: {self.count} {self.polarity} mention(s), usual ~{self.baseline:.1f}, "
                f"score {self.score:.3f}")

    @property
    def subject_label(self) -> str:
        """`source guba` for a source, the institution's name otherwise."""
        return f"source {self.source}" if not self.institution and self.source else self.institution

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("bucket_start", "bucket_end", "created_at"):
            out[name] = getattr(self, name).isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Inverse of `to_dict`; unknown keys (from a newer version) are ignored, missing newer
        ones (from an older version) take their defaults."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for name in ("bucket_start", "bucket_end", "created_at"):
            kwargs[name] = datetime.fromisoformat(kwargs[name])
        kwargs["mentions"] = [AlertMention(**m) for m in kwargs.get("mentions", [])]
        for name in ("categories", "sources"):
            kwargs[name] = [(label, int(n)) for label, n in kwargs.get(name, [])]
        return cls(**kwargs)


@dataclass
class AlertRecord:
    """One alert over its life. `latest` is the evidence of its most recent spike; `version`
    counts its writes, so two processes updating it at once cannot overwrite each other
    (`AlertStore.put_alert` raises `Conflict` for the one that read a stale copy)."""

    id: str
    rule: str
    institution: str  # empty for an alert about a source (then `source` is set)
    severity: str
    state: str
    started_at: datetime
    updated_at: datetime
    last_seen_at: datetime  # the latest check at which the rule still held
    latest: Alert
    resolved_at: datetime | None = None
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    note: str = ""
    silence_id: str = ""  # the silence holding it, while state is "silenced"
    notices: int = 0  # firing + repeat notices sent so far: the re-alert back-off doubles with each
    next_notify_at: datetime | None = None
    version: int = 0
    source: str = ""  # the source of a silence alert (its group), else empty

    _TIMES: ClassVar[tuple[str, ...]] = ("started_at", "updated_at", "last_seen_at", "resolved_at",
                                         "acknowledged_at", "next_notify_at")

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"alert state {self.state!r} is not one of: {', '.join(STATES)}")
        severity_rank(self.severity)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def subject(self) -> str:
        """The group within the rule: the institution, or the source of a silence alert."""
        return self.institution or self.source

    def summary(self) -> str:
        """One line for the command line, the digest and `yuqing status`."""
        who = f", acknowledged by {self.acknowledged_by}" if self.acknowledged_by else ""
        latest = self.latest
        if latest.kind == "silence":
            what = f"no mentions since {latest.bucket_start:%Y-%m-%d %H:%M}, usual gap ~{latest.baseline:.1f} h"
        elif latest.kind == "share":
            what = f"latest {latest.count} of {latest.total} negative, usual share ~{latest.usual_share:.0%}"
        else:
            what = f"latest {latest.count} mention(s), usual ~{latest.baseline:.1f}"
        return (f"{self.started_at:%Y-%m-%d %H:%M} {latest.subject_label} [{self.rule}] {self.severity} "
                f"{self.state}{who}: {what} (alert {self.id})")

    def public(self) -> dict[str, Any]:
        """The shape of `yuqing alerts list --json` (a contract: tools outside rely on it). An
        alert about a source has `institution` null and the source in `source` (an added key)."""
        return {"id": self.id, "institution": self.institution or None, "rule": self.rule,
                "severity": self.severity, "state": self.state, "started_at": self.started_at.isoformat(),
                "updated_at": self.updated_at.isoformat(), "acknowledged_by": self.acknowledged_by or None,
                "note": self.note or None, "source": self.source or None}

    def to_dict(self) -> dict[str, Any]:
        return _encode(self, self._TIMES, ("latest",))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRecord:
        record: AlertRecord = _decode(cls, data, cls._TIMES, ("latest",))
        return record


def idempotency_key(alert_id: str, channel: str, kind: str) -> str:
    """The same for every attempt at one notice (alert × channel × notice kind), so a receiver can
    drop a repeat: sent as the webhook's `Idempotency-Key` and in the email's `Message-ID`."""
    return hashlib.sha256(f"{alert_id}\x1f{channel}\x1f{kind}".encode()).hexdigest()[:32]


@dataclass
class Delivery:
    """One notice for one channel. `kind` is unique per alert and channel: `firing`, `repeat-2`,
    `escalated-紧急`, `resolved`. Pending until delivered; `due_at` is the earliest next attempt
    (quiet hours, back-off after a failure)."""

    alert_id: str
    channel: str
    kind: str
    notice: Alert
    created_at: datetime
    due_at: datetime
    state: str = "pending"  # pending | delivered
    attempts: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            self.key = idempotency_key(self.alert_id, self.channel, self.kind)
        if self.state not in ("pending", "delivered"):
            raise ValueError(f"delivery state {self.state!r} is not pending or delivered")

    _TIMES: ClassVar[tuple[str, ...]] = ("created_at", "due_at", "delivered_at")

    def to_dict(self) -> dict[str, Any]:
        return _encode(self, self._TIMES, ("notice",))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        delivery: Delivery = _decode(cls, data, cls._TIMES, ("notice",))
        return delivery


@dataclass
class Silence:
    """Mutes matching alerts until `until`. `institution` and `rule` are a name or "*";
    `severity` is the highest severity muted ("*": all), so 紧急 can still go through."""

    until: datetime
    created_by: str
    reason: str
    created_at: datetime
    institution: str = ANY
    rule: str = ANY
    severity: str = ANY
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    source: str = ANY  # of alerts about a source (silence); a source alert has no institution to match

    def __post_init__(self) -> None:
        if self.severity != ANY:
            severity_rank(self.severity)

    def matches(self, record: AlertRecord, at: datetime) -> bool:
        return (self.created_at <= at < self.until
                and self.institution in (ANY, record.institution) and self.source in (ANY, record.source)
                and self.rule in (ANY, record.rule)
                and (self.severity == ANY or severity_rank(record.severity) <= severity_rank(self.severity)))

    _TIMES: ClassVar[tuple[str, ...]] = ("until", "created_at")

    def to_dict(self) -> dict[str, Any]:
        return _encode(self, self._TIMES)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Silence:
        silence: Silence = _decode(cls, data, cls._TIMES)
        return silence


@dataclass
class AlertQuery:
    """Which alerts to list: each given field must match; `since`/`until` select the alerts open
    at some moment in [since, until) (started before `until`, last updated at or after `since`).
    Newest `updated_at` first."""

    institution: str | None = None
    rule: str | None = None
    states: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    source: str | None = None

    def matches(self, record: AlertRecord) -> bool:
        return ((self.institution is None or record.institution == self.institution)
                and (self.source is None or record.source == self.source)
                and (self.rule is None or record.rule == self.rule)
                and (not self.states or record.state in self.states)
                and (self.until is None or record.started_at < self.until)
                and (self.since is None or record.updated_at >= self.since))


CASE_STATUSES = ("open", "in_progress", "answered", "closed")


@dataclass
class CaseEvent:
    """One change to a case: who, when, what (`opened`, `assigned`, `status`, `response`) and to what."""

    at: datetime
    by: str
    action: str
    value: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "action": self.action, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseEvent:
        return cls(datetime.fromisoformat(data["at"]), data["by"], data["action"], data.get("value", ""))


@dataclass
class Case:
    """The handling of one negative mention. `accepted_at` is when it first left `open` (受理),
    `answered_at` when it first reached `answered` (or was closed with a response noted); both
    stay once set, so reopening a case does not rewrite its response times. `version` counts
    writes, as for alerts (`AlertStore.put_case` raises `Conflict` on a stale copy)."""

    mention_id: str
    title: str  # the mention's title when the case was opened, for lists
    institution: str  # the institution the mention is about (a limited user sees its own cases)
    opened_by: str
    opened_at: datetime
    handler: str = ""
    status: str = "open"
    response: str = ""
    accepted_at: datetime | None = None
    answered_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[CaseEvent] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    version: int = 0

    _TIMES: ClassVar[tuple[str, ...]] = ("opened_at", "accepted_at", "answered_at", "updated_at")

    def __post_init__(self) -> None:
        if self.status not in CASE_STATUSES:
            raise ValueError(f"case status {self.status!r} is not one of: {', '.join(CASE_STATUSES)}")
        if self.updated_at is None:
            self.updated_at = self.opened_at

    def to_dict(self) -> dict[str, Any]:
        out = _encode(self, self._TIMES)
        out["history"] = [e.to_dict() for e in self.history]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        case: Case = _decode(cls, {**data, "history": []}, cls._TIMES)
        case.history = [CaseEvent.from_dict(e) for e in data.get("history", [])]
        return case


@dataclass
class CaseQuery:
    """Which cases to list: each given field must match. Newest `opened_at` first."""

    statuses: tuple[str, ...] = ()
    handler: str | None = None
    institutions: tuple[str, ...] | None = None  # None: any
    mention_id: str | None = None
    limit: int = 500


__all__ = ["ALERT_KINDS", "ANY", "CASE_STATUSES", "NOTICE_KINDS", "OPEN_STATES", "POLARITY_LABELS", "SEVERITIES",
           "STATES", "Alert", "AlertMention", "AlertQuery", "AlertRecord", "Case", "CaseEvent", "CaseQuery", "Delivery",
           "Silence", "idempotency_key", "severity_rank"]
