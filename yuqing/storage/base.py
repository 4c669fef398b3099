"""The storage seam: one small interface, two backends (embedded SQLite, Elasticsearch).

The backend object is built once from config (`yuqing.storage.open_store`) and passed into the
crawl pipeline, the scheduler jobs, the CLI and the web app. The same contract tests
(`tests/test_store_contract.py`) run against both implementations.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from yuqing.model import Mention
from yuqing.query import Query

# Mentions per batch of `Store.scan`: large enough that a round trip is rare, small enough to hold.
SCAN_BATCH = 1000


class StoreError(RuntimeError):
    """The store could not do what was asked (unreachable, closed, refused the write, ...).
    The message says what and where; nothing was silently dropped. Every backend raises only this:
    a caller never sees sqlite3's or the Elasticsearch client's own exceptions."""


@dataclass
class SearchRequest:
    """What to look for. `query` is parsed user syntax (terms AND-ed, "phrases", OR, NOT, parens);
    an empty query matches everything. Date bounds are tz-aware; `until` is exclusive.
    `allowed_institutions` keeps only mentions naming one of them (a user limited to some
    institutions); None means no such limit, an empty tuple matches nothing. `corrected_only` keeps
    only mentions a person corrected (`yuqing.corrections`)."""

    query: Query
    since: datetime | None = None
    until: datetime | None = None
    polarity: str | None = None
    source: str | None = None
    institution: str | None = None
    limit: int = 20
    offset: int = 0
    allowed_institutions: tuple[str, ...] | None = None
    corrected_only: bool = False


@dataclass
class Hit:
    mention: Mention
    highlight: str  # HTML-escaped text with every match wrapped in <mark>…</mark>
    score: float = 0.0


@dataclass
class SearchResult:
    total: int
    hits: list[Hit] = field(default_factory=list)


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

    def search(self, request: SearchRequest) -> SearchResult: ...

    def count_by_interval(self, since: datetime, until: datetime, interval_seconds: int, *,
                          institution: str | None = None, polarity: str | None = None,
                          source: str | None = None) -> list[tuple[datetime, int]]:
        """Mentions per time bucket by `published_at`, buckets aligned to `since`, empty buckets
        included as 0, in order. Bucket datetimes carry `since`'s timezone."""
        ...

    def scan(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH) -> Iterator[list[Mention]]:
        """Every mention matching `request`'s query and filters (all of them without one), in a stable
        order, `batch_size` at a time; `limit`, `offset` and ranking are ignored. Not bounded by a
        result window: the SQLite store pages by rowid, Elasticsearch by `search_after` over a point
        in time, so a scan sees the store as it was when it began (Elasticsearch) or takes in rows
        written behind it (SQLite), and never repeats or skips one that stays."""
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
