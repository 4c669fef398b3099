"""The one record that flows through every stage: crawl → analyse → store → detect → report.

A `Mention` is the Scrapy item (Scrapy accepts dataclass items), the NLP input, the stored
document and what search returns. Stages fill in fields; nobody passes loose dicts between layers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POLARITIES = ("negative", "neutral", "positive")

# Query parameters that identify a visit, not a document: dropped from canonical URLs so the same
# post reached from two links gets one id.
_TRACKING_PARAMS = re.compile(r"^(utm_\w+|spm|from|source|share_\w+|fbclid|gclid|_t|timestamp|refer\w*)$")


@dataclass(frozen=True)
class Institution:
    """An institution being watched: its full name, the other names people use, and words that
    mark a false match (e.g. the river 招商 is not 招商银行)."""

    name: str
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every surface form, longest first, so matching prefers the most specific one."""
        return tuple(sorted({self.name, *self.aliases}, key=len, reverse=True))


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop fragments, tracking parameters and a trailing slash."""
    parts = urlsplit(url.strip())
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING_PARAMS.match(k)))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def join_title(title: str, text: str) -> str:
    """Title and body as one text (many sources repeat the title at the start of the body)."""
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def mention_id(url: str = "", platform: str = "", post_id: str = "") -> str:
    """A stable id: from the platform's own post id when there is one, else from the canonical URL.
    Re-crawling or re-importing the same post always yields the same id, so writes are upserts."""
    key = f"{platform}:{post_id}" if platform and post_id else canonical_url(url)
    if not key.strip(":/"):
        raise ValueError("a mention needs a url or a platform post id to get an id")
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


@dataclass
class Mention:
    """One public post, article or complaint that may concern a watched institution."""

    url: str
    source: str
    title: str = ""
    content: str = ""
    author: str = ""
    published_at: datetime | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    platform_id: str = ""  # the platform's own post id (Weibo mid, Tieba tid, ...), when known
    engagement: int = 0  # reposts + comments + likes, when the platform shows them
    # filled by the analyse stage
    institutions: list[str] = field(default_factory=list)
    polarity: str = ""
    sentiment: float | None = None
    negative_entities: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    risk: float | None = None
    keywords: list[str] = field(default_factory=list)
    why: dict[str, list[str]] = field(default_factory=dict)  # the cues that decided the analysis (nlp.Analysis)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = mention_id(self.url, self.source, self.platform_id)
        for name in ("published_at", "fetched_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"Mention.{name} must be timezone-aware, got {value!r}")

    @property
    def text(self) -> str:
        """Title and content as one text, for analysis."""
        return join_title(self.title, self.content).strip()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: datetimes as ISO 8601 strings."""
        out = dataclasses.asdict(self)
        for name in ("published_at", "fetched_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mention:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for name in ("published_at", "fetched_at"):
            value = kwargs.get(name)
            if isinstance(value, str):
                kwargs[name] = datetime.fromisoformat(value)
        return cls(**kwargs)
