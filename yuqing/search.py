"""One search, two front ends: `yuqing search --json` and the web API's `GET /api/search` build the
request and shape the answer here, so their JSON cannot drift apart.

`where` and the key names let each front end name its own inputs in errors (`--to` on the command
line, `to` in a URL)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from yuqing.config import ConfigError
from yuqing.model import POLARITIES
from yuqing.query import MAX_LIMIT, QuerySyntaxError, parse
from yuqing.storage import CursorError, FacetRequest, SearchRequest, SearchResult
from yuqing.storage.base import SORTS, read_cursor

MIN_FACET_INTERVAL = 60  # seconds: finer timelines are not what facets are for


@dataclass(frozen=True)
class SearchInput:
    """A search as a user gives it: text, before validation."""

    query: str = ""
    since: str | None = None
    until: str | None = None
    polarity: str | None = None
    source: str | None = None
    institution: str | None = None
    limit: int = 20
    offset: int = 0
    sort: str = ""  # relevance, time or risk; "" for the default (see SearchRequest)
    cursor: str | None = None  # a result's next_cursor
    facets: bool = False
    interval: str | None = None  # the timeline facet's bucket: 1h, 1d, 7d, ... (default 1d)


def parse_interval(text: str, where: str, key: str) -> int:
    """A bucket length such as `30m`, `1h`, `1d`, `7d`, in seconds."""
    units = {"m": 60, "h": 3600, "d": 86400}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) * units[unit] < MIN_FACET_INTERVAL:
        raise ConfigError(where, key, f"{text!r} is not an interval such as 1h, 1d or 7d (at least 1m)")
    return int(number) * units[unit]


def parse_when(text: str, tz: ZoneInfo, end: bool, where: str, key: str) -> datetime:
    """A from/to value in the configured timezone. A bare date as the end includes that whole day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            if end and day == date.max:  # no next day to stop before
                return datetime.max.replace(tzinfo=tz)
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(where, key, f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def build_request(given: SearchInput, tz: ZoneInfo, where: str, keys: dict[str, str] | None = None,
                  allowed_institutions: tuple[str, ...] | None = None) -> SearchRequest:
    """Validate a search into a `SearchRequest`. `keys` renames inputs in errors (e.g. since → --from);
    `allowed_institutions` limits the hits to mentions naming one of them (None: no limit)."""
    names = {"since": "from", "until": "to", **(keys or {})}

    def name(field: str) -> str:
        return names.get(field, field)

    if given.polarity and given.polarity not in POLARITIES:
        raise ConfigError(where, name("polarity"), f"{given.polarity!r} is not one of: {', '.join(POLARITIES)}")
    if not 1 <= given.limit <= MAX_LIMIT:
        raise ConfigError(where, name("limit"), f"must be from 1 to {MAX_LIMIT}, got {given.limit}")
    if given.offset < 0:
        raise ConfigError(where, name("offset"), f"{given.offset} must not be negative")
    if given.sort and given.sort not in SORTS:
        raise ConfigError(where, name("sort"), f"{given.sort!r} is not one of: {', '.join(SORTS)}")
    try:
        query = parse(given.query)
    except QuerySyntaxError as e:
        raise ConfigError(where, name("query"), str(e)) from None
    facets = None
    if given.facets or given.interval:
        interval = parse_interval(given.interval, where, name("interval")) if given.interval else 86400
        facets = FacetRequest(interval_seconds=interval)
    request = SearchRequest(
        query=query,
        since=parse_when(given.since, tz, False, where, name("since")) if given.since else None,
        until=parse_when(given.until, tz, True, where, name("until")) if given.until else None,
        polarity=given.polarity or None, source=given.source or None, institution=given.institution or None,
        limit=given.limit, offset=given.offset, allowed_institutions=allowed_institutions,
        sort=given.sort, cursor=given.cursor or None, facets=facets)
    try:
        read_cursor(request)
    except CursorError as e:
        raise ConfigError(where, name("cursor"), str(e)) from None
    return request


def result_json(result: SearchResult) -> dict[str, Any]:
    """The `search --json` contract: {"total", "hits": [{id, url, title, source, published_at, ...}]},
    plus `next_cursor` when there is a next page and `facets` when asked for."""
    hits = [{"id": h.mention.id, "url": h.mention.url, "title": h.mention.title, "source": h.mention.source,
             "published_at": h.mention.published_at.isoformat() if h.mention.published_at else None,
             "polarity": h.mention.polarity, "sentiment": h.mention.sentiment,
             "institutions": h.mention.institutions, "risk": h.mention.risk,
             "categories": h.mention.categories, "highlight": h.highlight} for h in result.hits]
    out: dict[str, Any] = {"total": result.total, "hits": hits}
    if result.next_cursor:  # only then: the contract's keys stay exactly as they were
        out["next_cursor"] = result.next_cursor
    if result.facets is not None:
        f = result.facets

        def pairs(counts: list[tuple[str, int]]) -> list[dict[str, Any]]:
            return [{"value": value, "count": n} for value, n in counts]

        out["facets"] = {
            "timeline": [{"start": b.start.isoformat(), "total": b.total, "polarity": b.counts} for b in f.timeline],
            "sources": pairs(f.sources), "institutions": pairs(f.institutions), "categories": pairs(f.categories),
            "groups": [{"group_id": group, "count": n} for group, n in f.groups]}
    return out
