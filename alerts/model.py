"""What an alert says: one spike of one institution, with the evidence a reader acts on."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

POLARITY_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面", "any": "全部"}


@dataclass
class AlertMention:
    """A mention quoted in an alert: enough to judge it and follow the link."""

    title: str
    url: str
    source: str
    published_at: str  # ISO 8601 in the configured timezone
    risk: float | None = None
    categories: list[str] = field(default_factory=list)  # Chinese labels


@dataclass
class Alert:
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

    def __post_init__(self) -> None:
        if not self.id:
            # one spike bucket of one rule and institution is one alert, wherever it is re-read
            key = f"{self.rule}|{self.institution}|{self.bucket_start.isoformat()}"
            self.id = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]

    @property
    def title(self) -> str:
        what = POLARITY_LABELS.get(self.polarity, self.polarity)
        return f"【舆情预警】{self.institution} {what}舆情激增：{self.count} 条（通常约 {self.baseline:.1f} 条）"

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (f"{self.bucket_start:%Y-%m-%d %H:%M}–{self.bucket_end:%H:%M} {self.institution} "
                f"[{self.rule}] {self.count} {self.polarity} mention(s), usual ~{self.baseline:.1f}, "
                f"score {self.score:.3f}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("bucket_start", "bucket_end", "created_at"):
            out[name] = getattr(self, name).isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Inverse of `to_dict`; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for name in ("bucket_start", "bucket_end", "created_at"):
            kwargs[name] = datetime.fromisoformat(kwargs[name])
        kwargs["mentions"] = [AlertMention(**m) for m in kwargs.get("mentions", [])]
        kwargs["categories"] = [(label, int(n)) for label, n in kwargs.get("categories", [])]
        return cls(**kwargs)
