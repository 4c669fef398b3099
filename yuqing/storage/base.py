"""The storage seam: one small interface, two backends (embedded SQLite, Elasticsearch).

The backend object is built once from config (`yuqing.storage.open_store`) and passed into the
crawl pipeline, the scheduler jobs, the CLI and the web app. The same contract tests
(`tests/test_store_contract.py`) run against both implementations.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from yuqing.model import Mention
from yuqing.query import Query, positive_terms

SORTS = ("relevance", "time", "risk")
# A timeline is filled with zero buckets between its first and last non-empty one, unless that
# would take more buckets than this (then only the non-empty ones are returned).
MAX_TIMELINE_BUCKETS = 10_000

# Mentions per batch of `Store.scan`: large enough that a round trip is rare, small enough to hold.
SCAN_BATCH = 1000


class StoreError(RuntimeError):
    """The store could not do what was asked (unreachable, closed, refused the write, ...).
    The message says what and where; nothing was silently dropped. Every backend raises only this:
    a caller never sees sqlite3's or the Elasticsearch client's own exceptions."""


class CursorError(ValueError):
    """A cursor that does not belong to this search (another query, filters or sort) or is not
    a cursor at all."""


@dataclass(frozen=True)
class FacetRequest:
    """Which counts to add to a search (`SearchRequest.facets`), over every matching mention, not
    only the page: the timeline buckets are `interval_seconds` long, starting at `since` (or at
    midnight 1970-01-01 in the store's timezone when there is no `since`); the other facets keep
    their `size` largest values."""

    interval_seconds: int = 86400
    size: int = 10


@dataclass
class SearchRequest:
    """What to look for. `query` is parsed user syntax (terms AND-ed, "phrases", OR, NOT, parens,
    field filters); an empty query matches everything. Date bounds are tz-aware; `until` is
    exclusive and both resolve to the millisecond. `allowed_institutions` keeps only mentions
    naming one of them (a user limited to some institutions); None means no such limit, an
    empty tuple matches nothing. `group_id` keeps one repost / near-duplicate group: the mentions
    whose group it is (`Mention.group_id`, or the id of a mention that has none, as the facets count).

    `sort` is `relevance` (best match first, then newest), `time` (newest first) or `risk`
    (highest first, mentions without a risk last, then newest); "" means relevance when the query
    has terms to rank by, else time. `cursor` is a result's `next_cursor`: the page after it, in
    the same search (it costs what the first page does; `offset` cannot be combined with it).
    `limit` 0 only counts. `corrected_only` keeps only mentions a person corrected
    (`yuqing.corrections`)."""

    query: Query
    since: datetime | None = None
    until: datetime | None = None
    polarity: str | None = None
    source: str | None = None
    institution: str | None = None
    group_id: str | None = None
    limit: int = 20
    offset: int = 0
    allowed_institutions: tuple[str, ...] | None = None
    corrected_only: bool = False
    sort: str = ""
    cursor: str | None = None
    facets: FacetRequest | None = None

    @property
    def order(self) -> str:
        """The sort in effect: `sort`, or its default."""
        return self.sort or ("relevance" if positive_terms(self.query) else "time")

    def fingerprint(self) -> str:
        """What a cursor must have been made for: everything that decides which hits, in which order."""
        key = repr((self.query, self.since and self.since.timestamp(), self.until and self.until.timestamp(),
                    self.polarity, self.source, self.institution, self.group_id, self.allowed_institutions,
                    self.corrected_only, self.order))
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def make_cursor(request: SearchRequest, key: list[Any], **extra: Any) -> str:
    """An opaque cursor for the page after the hit whose sort key is `key` (plus backend data such
    as an Elasticsearch point in time), bound to this search."""
    body = json.dumps({"f": request.fingerprint(), "k": key, **extra}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def read_cursor(request: SearchRequest) -> dict[str, Any] | None:
    """`request.cursor` decoded ({"k": sort key, ...}); None without one. CursorError when it is
    not a cursor of this search."""
    if not request.cursor:
        return None
    if request.offset:
        raise CursorError("a cursor continues where its page ended: it cannot be combined with an offset")
    try:
        text = base64.urlsafe_b64decode(request.cursor + "=" * (-len(request.cursor) % 4))
        body = json.loads(text)
        if not isinstance(body, dict) or not isinstance(body.get("k"), list):
            raise ValueError
    except ValueError:
        raise CursorError(f"{request.cursor[:40]!r} is not a search cursor (use a result's next_cursor)") from None
    if body.get("f") != request.fingerprint():
        raise CursorError("the cursor belongs to another search: keep the query, filters and sort of the "
                          "search that returned it")
    return body


@dataclass
class Hit:
    mention: Mention
    highlight: str  # HTML-escaped text with every match wrapped in <mark>…</mark>
    score: float = 0.0


@dataclass
class TimeBucket:
    start: datetime  # in the store's timezone (or `since`'s)
    counts: dict[str, int]  # per polarity ("" for mentions not analysed); only polarities seen

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Facets:
    """Counts over all the mentions a search matched. Each list is (value, count), largest count
    first, then value; `groups` are repost / near-duplicate groups by their group id (a mention
    alone counts as a group of one)."""

    timeline: list[TimeBucket] = field(default_factory=list)
    sources: list[tuple[str, int]] = field(default_factory=list)
    institutions: list[tuple[str, int]] = field(default_factory=list)
    categories: list[tuple[str, int]] = field(default_factory=list)
    groups: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class SearchResult:
    total: int
    hits: list[Hit] = field(default_factory=list)
    next_cursor: str | None = None  # the next page (`SearchRequest.cursor`); None on the last one
    facets: Facets | None = None  # when the request asked for them


def top(counts: Iterable[tuple[str, int]], size: int) -> list[tuple[str, int]]:
    """The `size` largest counts, ties by value: the one order both backends report facets in."""
    return sorted(counts, key=lambda vc: (-vc[1], vc[0]))[:size]


def timeline(counts: dict[int, dict[str, int]], origin: datetime, interval_seconds: int) -> list[TimeBucket]:
    """Buckets from per-bucket-number counts (bucket n starts at origin + n intervals), with zero
    buckets filled in between the first and the last non-empty one."""
    if not counts:
        return []
    numbers = sorted(counts)
    if numbers[-1] - numbers[0] < MAX_TIMELINE_BUCKETS:
        numbers = list(range(numbers[0], numbers[-1] + 1))
    start, tz = origin.timestamp(), origin.tzinfo or UTC  # absolute seconds: a DST change moves no bucket
    return [TimeBucket(datetime.fromtimestamp(start + n * interval_seconds, tz), counts.get(n, {})) for n in numbers]


@dataclass
class IndexReport:
    """What a write did: how many documents were new, updated, and which failed and why."""

    created: int = 0
    updated: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (mention id, reason)

    def __iadd__(self, other: IndexReport) -> IndexReport:
        self.created += other.created
        self.updated += other.updated
        self.failed.extend(other.failed)
        return self


class Store(Protocol):
    """What every backend provides. Writes are upserts keyed by `Mention.id`; an upsert keeps the
    people's corrections of the stored mention (`yuqing.model.keep_corrections`). Every failure is a
    `StoreError` (a single document the backend refuses is reported in `IndexReport.failed`
    instead, with its reason, and the rest of the batch is written); after `close()` every call
    raises `StoreError`."""

    def setup(self) -> list[str]:
        """Create or upgrade what the backend needs (schema, index template, aliases). Idempotent;
        one human-readable line per thing created, changed or found unchanged."""
        ...

    def index_many(self, mentions: Iterable[Mention]) -> IndexReport: ...

    def get(self, mention_id: str) -> Mention | None: ...

    def search(self, request: SearchRequest) -> SearchResult:
        """The hits of one page and the exact total, plus facets when asked; `CursorError` for a
        cursor of another search."""
        ...

    def count_by_interval(self, since: datetime, until: datetime, interval_seconds: int, *,
                          institution: str | None = None, polarity: str | None = None,
                          source: str | None = None) -> list[tuple[datetime, int]]:
        """Mentions per time bucket by `published_at`, buckets aligned to `since`, empty buckets
        included as 0, in order. Bucket datetimes carry `since`'s timezone."""
        ...

    def scan(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH) -> Iterator[list[Mention]]:
        """Every mention matching `request`'s query and filters (all of them without one), in a stable
        order, `batch_size` at a time; `limit`, `offset` and ranking are ignored. Export, migrate,
        re-analysis and the list of corrections read through it. Not bounded by a result window:
        the SQLite store pages by rowid, Elasticsearch by `search_after` over a point in time, so a
        scan sees the store as it was when it began (Elasticsearch) or takes in rows written behind
        it (SQLite), and never repeats or skips one that stays."""
        ...

    def count(self) -> int:
        """How many mentions the store holds (exact)."""
        ...

    def prune(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete every mention published (else fetched) before `before`; the number deleted, or
        with `dry_run` the number that would be. Alert state keeps its own copy of the mentions it
        quotes, so it is untouched."""
        ...

    def close(self) -> None:
        """Release the backend; calling it again does nothing."""
        ...
