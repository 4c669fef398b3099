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
# The analysis fields a person may correct (`yuqing.corrections`), in the order they are reported;
# `risk` follows the polarity.
CORRECTABLE = ("polarity", "institutions", "negative_entities", "categories")

# Query parameters that say how a visitor arrived, never which page it is: dropped from canonical
# URLs so one post reached from two links gets one id. Conservative on purpose: `from`, `source`,
# `t`, `timestamp`, `ref`, `page` and the like select the document on some sites, so they stay.
TRACKING_PARAMS = frozenset({
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",  # Google Analytics
    "spm",  # Alibaba / Taobao / Weibo share position
    "spm_id_from", "vd_source", "share_source", "share_medium", "share_plat", "share_from",  # Bilibili shares
    "fbclid", "gclid", "dclid", "msclkid", "yclid",  # ad click ids
    "wfr",  # Weibo "opened from" marker
})


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
                             if k not in TRACKING_PARAMS))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


# Scheme, host, then anything but whitespace and control characters: browsers drop a tab or a
# newline inside `java\tscript:`, so a URL holding one is never made a link.
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f/?#]+[^\s\x00-\x1f\x7f]*", re.IGNORECASE)


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL: the only kind of URL that may ever become a link."""
    return bool(_WEB_URL.fullmatch(url))


# Terminal escape sequences (CSI, OSC, the two-character ESC forms, the one-byte C1 CSI), then every
# other C0/C1 control character but tab and newline: crawled text is printed by `yuqing search`
# and must not clear the screen or set the window title. A lone surrogate (a JSON `"\ud800"`) can
# be neither stored nor printed as UTF-8: it becomes U+FFFD.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -~]?|\x9b[0-?]*[ -/]*[@-~]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` without terminal escapes and control characters (tab and newline kept, CRLF made a
    newline), lone surrogates replaced by U+FFFD."""
    text = _SURROGATES.sub("\ufffd", text).replace("\r\n", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def has_unsafe_characters(text: str) -> bool:
    """True when `text` holds a control character or a lone surrogate: such a value is refused
    where it names something (an id, a URL), since cleaning it would change what it names."""
    return bool(_CONTROLS.search(text) or _SURROGATES.search(text) or "\n" in text or "\t" in text)


def join_title(title: str, text: str) -> str:
    """Title and body as one text (many sources repeat the title at the start of the body)."""
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def mention_id(url: str = "", platform: str = "", post_id: str = "") -> str:
    """The one id rule: platform + the platform's own post id when both are known (a Weibo post
    crawled by its mid and imported with `platform: weibo, platform_id: MID` is one mention),
    else the canonical URL. Re-crawling or re-importing the same post always yields the same id,
    so writes are upserts. `platform` is the kind of site (a source `type`: weibo, tieba, guba,
    heimao), never a configured source's name, which differs between installations."""
    key = f"{platform}:{post_id}" if platform and post_id else canonical_url(url)
    if not key.strip(":/"):
        raise ValueError("a mention needs a url or a platform post id to get an id")
    # surrogatepass: a URL holding a lone surrogate still gets an id, so the ingest path can refuse it
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


@dataclass
class Mention:
    """One public post, article or complaint that may concern a watched institution."""

    url: str
    source: str
    title: str = ""
    content: str = ""
    author: str = ""
    published_at: datetime | None = None
    # True when the source gave no date: published_at is then the page's date or the fetch time
    published_estimated: bool = False
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    platform: str = ""  # the kind of site (weibo, tieba, guba, heimao) whose post id `platform_id` is
    platform_id: str = ""  # the platform's own post id (Weibo mid, Tieba tid, ...), when known
    engagement: int = 0  # reposts + comments + likes, when the platform shows them
    repost_of: str = ""  # the id of the Mention this one reposts (a Weibo repost's original)
    # The id of the first-seen mention of its repost / near-duplicate group (the ingest path sets
    # it; a mention alone is its own group). "" (mentions stored before groups existed) means the
    # same as its own id.
    group_id: str = ""
    # filled by the analyse stage
    institutions: list[str] = field(default_factory=list)
    polarity: str = ""
    sentiment: float | None = None
    negative_entities: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    risk: float | None = None
    keywords: list[str] = field(default_factory=list)
    why: dict[str, list[str]] = field(default_factory=dict)  # the cues that decided the analysis (nlp.Analysis)
    model_version: str = ""  # which model scored it (the analyser's `version`)
    # People's corrections (`yuqing.corrections`): each record is {"by", "at", "note", "before", "after"};
    # `model_analysis` holds the model's own value of every field a person corrected, while the field
    # itself shows the person's value, which no later analysis overwrites.
    corrections: list[dict[str, Any]] = field(default_factory=list)
    model_analysis: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = mention_id(self.url, self.platform, self.platform_id)
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


def keep_corrections(stored: Mention, incoming: Mention) -> Mention:
    """What an upsert of `incoming` over `stored` writes: `incoming`, unless it is a copy that
    knows fewer corrections than the stored one (the same post crawled or imported again); then
    the stored corrections and the people's values are kept, and the model's fresh values of the
    corrected fields go to `model_analysis` (in `incoming` itself, which is returned)."""
    if len(incoming.corrections) >= len(stored.corrections):
        return incoming
    model_analysis = dict(incoming.model_analysis)
    for name in stored.model_analysis:
        model_analysis[name] = getattr(incoming, name)
        setattr(incoming, name, getattr(stored, name))
    incoming.model_analysis = model_analysis
    incoming.corrections = list(stored.corrections)
    return incoming

@dataclass
class Rejected:
    """Something that could not become a valid Mention (an unreadable date, a bad import line),
    carried to the ingest path so it lands in the reject log instead of disappearing. `where`
    names it when there is no URL: `FILE:LINE` for an import."""

    url: str
    source: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)
    where: str = ""
