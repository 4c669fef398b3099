"""The Elasticsearch store: the same contract as the SQLite store, for larger deployments.

Text is segmented with `yuqing.segment` (jieba) before indexing into whitespace-analysed fields,
and a query term becomes exactly the tokens the SQLite store looks up, so both backends find the
same mentions for the same query on any cluster, without Chinese analysis plugins.

Layout (`index_config/`): one index per UTC month of `published`, `<prefix>-mentions-v1-YYYY.MM`,
each behind the read alias and the write alias; reads go to the read alias. A new mention goes to
its month's index; a mention written again is updated where it already lives (found by a realtime
multi-get over the read alias's indices), even when its date moved to another month or it predates
monthly indices, so a replay never creates a second copy.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConnectionError,
    ConnectionTimeout,
    Elasticsearch,
    NotFoundError,
    TransportError,
)
from elasticsearch.helpers import streaming_bulk

import index_config
from yuqing.config import ElasticsearchConfig
from yuqing.highlight import highlighter
from yuqing.model import CORRECTABLE, Mention, keep_corrections
from yuqing.query import And, Field, Node, Not, Or, Term
from yuqing.segment import index_tokens, near_distance, query_tokens
from yuqing.storage.base import (
    SCAN_BATCH,
    Facets,
    Hit,
    IndexReport,
    SearchRequest,
    SearchResult,
    StoreError,
    make_cursor,
    read_cursor,
    timeline,
    top,
)

# Title matches weigh twice body matches, as in the SQLite store's bm25 weights.
_TITLE_BOOST = 2.0
_SEGMENTED_FIELDS = (("title_seg", _TITLE_BOOST), ("content_seg", 1.0))
# 429 (queue full, circuit breaker) is worth waiting for: retried with backoff 1, 2, 4, 8, 16 s.
BULK_MAX_RETRIES = 5
BULK_INITIAL_BACKOFF = 1.0
BULK_CHUNK = 500
# What an upsert reads of a stored mention to keep its corrections (`keep_corrections`): small fields only.
_CORRECTION_FIELDS = ["corrections", "model_analysis", *CORRECTABLE, "risk"]
# How long a point in time stays open after each page: a cursor older than this goes on from
# where it was, over the index as it is then; a scan's slow consumer (a progress bar, a slow disk)
# keeps its view, since each page renews it.
PIT_KEEP_ALIVE = "5m"
# The query language's fields and the mapped fields they compare with.
_KEYWORDS = {"source": "source", "institution": "institutions", "polarity": "polarity", "category": "categories",
             "author": "author"}
_RANGES = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_NEWEST: list[Any] = [{"published": "desc"}, {"id": "asc"}]
_SORTS: dict[str, list[Any]] = {"time": _NEWEST, "relevance": ["_score", *_NEWEST],
                                "risk": [{"risk": {"order": "desc", "missing": "_last"}}, *_NEWEST]}


def _error_reason(e: ApiError) -> str:
    """The cluster's own explanation ("type: reason"), not the client's repr."""
    body = e.body if isinstance(e.body, dict) else {}
    err = body.get("error", body)
    if isinstance(err, dict):
        cause = (err.get("root_cause") or [err])[0]
        return f"{cause.get('type', '')}: {cause.get('reason', '')}".strip(": ") or str(e)
    return str(err) if err else str(e)


def _root_cause(e: BaseException) -> str:
    """The innermost error ("[Errno 111] Connection refused"), not the client's nested reprs."""
    while e.__cause__ or e.__context__:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return str(e) or type(e).__name__


def _feature_missing(e: ApiError) -> bool:
    """The cluster has no handler for this API (plugin not installed, e.g. ILM on a bare node)."""
    return e.status_code in (400, 404, 405, 410) and ("no handler found" in str(e.body)
                                                      or "Incorrect HTTP method" in str(e.body))


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _document(m: Mention) -> str:
    """The stored JSON. Serialised here, so one bad mention fails alone instead of its whole batch."""
    doc = m.to_dict()
    doc["title_seg"] = index_tokens(m.title)
    doc["content_seg"] = index_tokens(m.content)
    # What filters, sorting and histograms use: the SQLite store falls back to fetched_at the same way.
    doc["published"] = (m.published_at or m.fetched_at).isoformat()
    # What the per-group aggregation counts: "" means the mention is its own group, as in SQLite.
    doc["group"] = m.group_id or m.id
    # The fields a person corrected, as a keyword field: `SearchRequest.corrected_only` filters on it.
    doc["corrected"] = sorted(m.model_analysis)
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


def connect(cfg: ElasticsearchConfig) -> Elasticsearch:
    """A client for the configured cluster: its URL, credentials and CA. StoreError names a bad key."""
    if not cfg.url.startswith(("http://", "https://")):
        raise StoreError(f"store.elasticsearch.url {cfg.url!r} must start with http:// or https://")
    options: dict[str, Any] = {}
    if cfg.api_key:
        options["api_key"] = cfg.api_key
    elif cfg.username:
        options["basic_auth"] = (cfg.username, cfg.password)
    if cfg.ca_file:
        if not Path(cfg.ca_file).is_file():
            raise StoreError(f"store.elasticsearch.ca_file: no such file {cfg.ca_file!r}")
        options["ca_certs"] = cfg.ca_file
    # No immediate resend on 429 (the transport has no backoff): bulk writes back off and retry
    # in `_write`; a rejected read is better reported than repeated at once.
    return Elasticsearch(cfg.url, request_timeout=cfg.timeout_seconds, max_retries=3, retry_on_timeout=True,
                         retry_on_status=(502, 503, 504), **options)


@contextmanager
def translated_errors(url: str, what: str, missing_index_hint: str) -> Iterator[None]:
    """Client exceptions as `StoreError`s that say what failed, where, and what to do;
    `missing_index_hint` is appended when the index does not exist."""
    try:
        yield
    except (ConnectionError, ConnectionTimeout) as e:
        raise StoreError(f"cannot reach Elasticsearch at {url}: {_root_cause(e)}; is it running? "
                         "set store.elasticsearch.url") from e
    except AuthenticationException as e:
        raise StoreError(f"Elasticsearch at {url} rejected the credentials ({_error_reason(e)}); set "
                         "YUQING_ES_API_KEY, or store.elasticsearch.username and YUQING_ES_PASSWORD") from e
    except AuthorizationException as e:
        raise StoreError(f"Elasticsearch at {url} does not allow this user to {what}: {_error_reason(e)}") from e
    except ApiError as e:
        if not isinstance(e.body, dict):  # a proxy or another server answered, not Elasticsearch
            raise StoreError(f"cannot {what}: {url} answered HTTP {e.status_code} without an Elasticsearch "
                             "response; is store.elasticsearch.url the cluster's HTTP endpoint?") from e
        if isinstance(e, NotFoundError):
            hint = f"; {missing_index_hint}" if "index_not_found" in str(e.body) else ""
            raise StoreError(f"cannot {what} on Elasticsearch at {url}: {_error_reason(e)}{hint}") from e
        raise StoreError(f"cannot {what} on Elasticsearch at {url}: {e.status_code} {_error_reason(e)}") from e
    except TransportError as e:
        raise StoreError(f"cannot {what} on Elasticsearch at {url}: {e}") from e


def _term_query(term: Term) -> dict[str, Any]:
    tokens = query_tokens(term.text)
    clauses: list[dict[str, Any]]
    if len(tokens) == 1:
        clauses = [{"term": {field: {"value": tokens[0], "boost": boost}}} for field, boost in _SEGMENTED_FIELDS]
    else:
        # Unordered, up to near_distance tokens apart, within one field: what SQLite FTS5 NEAR() means.
        clauses = [{"span_near": {"clauses": [{"span_term": {field: t}} for t in tokens],
                                  "slop": near_distance(tokens), "in_order": False, "boost": boost}}
                   for field, boost in _SEGMENTED_FIELDS]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _field_query(node: Field) -> dict[str, Any]:
    """A field filter; it adds nothing to the score (on SQLite, the tags column weighs 0 in bm25)."""
    if node.name != "risk":
        query: dict[str, Any] = {"term": {_KEYWORDS[node.name]: node.value}}
    elif node.op == "=":
        query = {"term": {"risk": float(node.value)}}
    else:
        query = {"range": {"risk": {_RANGES[node.op]: float(node.value)}}}
    return {"constant_score": {"filter": query, "boost": 0.0}}


def _query(node: Node) -> dict[str, Any]:
    """The `yuqing.query` tree as an Elasticsearch bool query with the SQLite store's meaning."""
    if isinstance(node, Term):
        return _term_query(node)
    if isinstance(node, Field):
        return _field_query(node)
    if isinstance(node, Or) and not node.items:
        return {"match_none": {}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [_query(node.item)]}}
    if isinstance(node, And):
        return {"bool": {"must": [_query(item) for item in node.items]}}
    return {"bool": {"should": [_query(item) for item in node.items], "minimum_should_match": 1}}


class ElasticsearchStore:
    """`Store` on an Elasticsearch 8 cluster. Safe to share between threads (the client is)."""

    def __init__(self, cfg: ElasticsearchConfig, tz: ZoneInfo, refresh: bool = False,
                 retention_seconds: int | None = None) -> None:
        self.cfg = cfg
        self.tz = tz
        self.refresh = refresh  # make every write visible to search at once (tests); slower
        self.retention_seconds = retention_seconds  # `store.retention`: the ILM policy's delete phase
        self._unrefreshed = False
        self._months: set[str] = set()  # monthly indices known to exist (created here or seen)
        self._lifecycle: bool | None = None  # whether new monthly indices get the ILM policy
        self._closed = False
        try:
            self.layout = index_config.load(cfg.index_prefix)
        except ValueError as e:
            raise StoreError(f"store.elasticsearch.index_prefix: {e}") from e
        self.names = self.layout.names
        self._client = connect(cfg)

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Client exceptions as `StoreError`s that say what failed, where, and what to do."""
        if self._closed:
            raise StoreError(f"cannot {what}: the store for Elasticsearch at {self.cfg.url} is closed")
        return translated_errors(self.cfg.url, what, f"run `yuqing index setup` to create {self.names.write_alias}")

    # -- administration -------------------------------------------------------------------------

    def ping(self) -> bool:
        """Whether the cluster answers (with these credentials)."""
        try:
            return bool(self._client.ping())
        except TransportError:
            return False

    def setup(self) -> list[str]:
        """Apply the ILM policy (where the cluster has ILM), index template, first index and aliases.
        Idempotent; returns one human-readable line per thing created, changed, unchanged or skipped."""
        lines: list[str] = []
        with self._errors("set up the mention indices"):
            self._lifecycle = self._setup_ilm_policy(lines)
            template_changed = self._setup_template(lines)
            self._setup_write_index(template_changed, lines)
        return lines

    def _setup_ilm_policy(self, lines: list[str]) -> bool:
        name = self.names.ilm_policy
        ilm = self._client.ilm
        try:
            current = ilm.get_lifecycle(name=name).body[name]["policy"]
        except ApiError as e:
            if _feature_missing(e):
                return self._skip_ilm(lines, "this cluster has no index lifecycle management (ILM)")
            if e.status_code == 403:
                return self._skip_ilm(lines, f"not allowed to manage ILM ({_error_reason(e)})")
            if not isinstance(e, NotFoundError):
                raise
            current = None
        wanted = self.layout.lifecycle_policy(self.retention_seconds)
        if current is not None and current.get("phases") == wanted["phases"]:
            lines.append(f"unchanged: ILM policy {name}")
            return True
        ilm.put_lifecycle(name=name, policy=wanted)
        lines.append(f"{'updated' if current else 'created'} ILM policy {name}")
        return True

    def _skip_ilm(self, lines: list[str], why: str) -> bool:
        lines.append(f"skipped ILM policy {self.names.ilm_policy}: {why}; monthly indices are kept until "
                     "`yuqing prune` or store.retention deletes their mentions")
        return False

    def _setup_template(self, lines: list[str]) -> bool:
        name = self.names.template
        wanted = self.layout.index_template()
        try:
            found = self._client.indices.get_index_template(name=name).body["index_templates"]
            current = found[0]["index_template"].get("_meta", {}) if found else None
        except NotFoundError:
            current = None
        if current is not None and current.get("digest") == wanted["meta"]["digest"]:
            lines.append(f"unchanged: index template {name}")
            return False
        self._client.indices.put_index_template(name=name, **wanted)
        lines.append(f"{'updated' if current is not None else 'created'} index template {name}")
        return current is not None

    def _setup_write_index(self, template_changed: bool, lines: list[str]) -> None:
        names = self.names
        indices = self._client.indices
        try:
            aliased = indices.get_alias(name=names.write_alias).body
        except NotFoundError:
            aliased = {}
        write_index = next((index for index, info in aliased.items()
                            if info["aliases"][names.write_alias].get("is_write_index", len(aliased) == 1)), None)
        if write_index is None:
            write_index = names.first_index
            if indices.exists(index=write_index):
                indices.put_alias(index=write_index, name=names.write_alias, is_write_index=True)
                lines.append(f"created alias {names.write_alias} -> {write_index}")
            else:
                # With its write alias from the first moment: ILM looks the alias up once the index exists.
                indices.create(index=write_index, aliases={names.write_alias: {"is_write_index": True}})
                lines.append(f"created index {write_index} with aliases {names.write_alias}, "
                             f"{names.read_alias} (from the template)")
        else:
            lines.append(f"unchanged: alias {names.write_alias} -> {write_index}")
            if template_changed:
                # New fields reach every index, each month's included (mappings only grow, so it is
                # safe on old ones); indices made later get them from the template.
                every = ",".join(self._indices() or [write_index])
                indices.put_mapping(index=every, **self.layout.mappings)
                lines.append(f"updated mappings of {every}")
        if not indices.exists_alias(name=names.read_alias, index=write_index):
            indices.put_alias(index=write_index, name=names.read_alias)
            lines.append(f"created alias {names.read_alias} -> {write_index}")

    def drop(self) -> None:
        """Delete this prefix's indices, template and ILM policy (tests; irreversible)."""
        self._unrefreshed = False  # nothing left to make searchable
        with self._errors("delete the mention indices"):
            # Concrete names: clusters refuse wildcard deletes (action.destructive_requires_name).
            found = self._client.indices.get(index=self.names.index_pattern, expand_wildcards="all",
                                             allow_no_indices=True, ignore_unavailable=True).body
            if found:
                self._client.indices.delete(index=",".join(found))
            self._client.options(ignore_status=404).indices.delete_index_template(name=self.names.template)
            try:
                self._client.ilm.delete_lifecycle(name=self.names.ilm_policy)
            except ApiError as e:
                if e.status_code != 404 and not _feature_missing(e):
                    raise

    def close(self) -> None:
        """Idempotent; every later call raises `StoreError`."""
        if self._closed:
            return
        # A command that wrote and exits (import, crawl) leaves its writes searchable at once,
        # instead of after the next periodic refresh.
        try:
            if self._unrefreshed:
                with self._errors(f"refresh {self.names.read_alias}"):
                    self._client.indices.refresh(index=self.names.read_alias)
                self._unrefreshed = False
        finally:
            self._closed = True
            self._client.close()

    # -- writes ---------------------------------------------------------------------------------

    def _indices(self) -> list[str]:
        try:
            return sorted(self._client.indices.get_alias(name=self.names.read_alias).body)
        except NotFoundError:
            return []

    def _find(self, ids: list[str], source: bool | list[str]) -> list[dict[str, Any]]:
        """The stored documents with these ids, from every index behind the read alias. A realtime
        multi-get: a mention written a moment ago is found even before the index refreshes."""
        indices = self._indices()
        if not ids or not indices:
            return []
        # One request per index, ids only: with a year of monthly indices a single request naming
        # every (index, id) pair would be a dozen times the size.
        return [d for index in indices for d in self._client.mget(index=index, ids=ids, source=source).body["docs"]
                if d.get("found")]

    def index_many(self, mentions: Iterable[Mention]) -> IndexReport:
        report = IndexReport()
        batch: list[tuple[Mention, str]] = []
        for m in mentions:
            try:
                batch.append((m, _document(m)))
            except (TypeError, ValueError, AttributeError) as e:
                report.failed.append((getattr(m, "id", "?"), f"cannot serialise: {e}"))
            if len(batch) >= BULK_CHUNK:
                report += self._write(batch)
                batch = []
        if batch:
            report += self._write(batch)
        return report

    def _write(self, batch: list[tuple[Mention, str]]) -> IndexReport:
        report = IndexReport()
        with self._errors(f"write {len(batch)} mentions to {self.names.write_alias}"):
            # Update a mention where it lives: after a rollover the write alias points elsewhere.
            found = self._find(sorted({m.id for m, _ in batch}), source=_CORRECTION_FIELDS)
            homes = {d["_id"]: d["_index"] for d in found}
            corrected = {d["_id"]: Mention.from_dict({**d["_source"], "url": "", "source": "", "id": d["_id"]})
                         for d in found if d["_source"].get("corrections")}
            batch = [(m, doc) if m.id not in corrected else (keep_corrections(corrected[m.id], m), "")
                     for m, doc in batch]
            # A mention already stored is updated where it lives (its month may have changed since, or
            # it predates monthly indices); a new one goes to the index of its month, made if need be.
            targets = {m.id: homes.get(m.id) or self.layout.month_index(m.published_at or m.fetched_at)
                       for m, _ in batch}
            self._ensure_months(set(targets.values()) - set(homes.values()))
            # In order, so two copies of one id in a batch count as created then updated, as in SQLite.
            actions = ({"_op_type": "index", "_index": targets[m.id], "_id": m.id,
                        "_source": doc or _document(m)} for m, doc in batch)
            results = streaming_bulk(self._client, actions, chunk_size=BULK_CHUNK,
                                     max_chunk_bytes=10 * 1024 * 1024, raise_on_error=False,
                                     raise_on_exception=False, max_retries=BULK_MAX_RETRIES,
                                     initial_backoff=BULK_INITIAL_BACKOFF,
                                     refresh="true" if self.refresh else "false")
            self._unrefreshed = not self.refresh
            for ok, item in results:
                info = next(iter(item.values()))
                if ok and info.get("result") == "created":
                    report.created += 1
                elif ok:
                    report.updated += 1
                else:
                    report.failed.append((info.get("_id", "?"), self._bulk_reason(info)))
        return report

    def _ensure_months(self, indices: set[str]) -> None:
        """Create the monthly indices that do not exist yet, behind both aliases. Explicitly, not by
        auto-creation: a cluster may forbid that (`action.auto_create_index`), and the ILM settings
        depend on the month. Another process creating the same index at once is no error."""
        missing = indices - self._months
        if missing:
            self._months.update(self._indices())
            missing -= self._months
        if missing and self._lifecycle is None:
            try:
                self._client.ilm.get_lifecycle(name=self.names.ilm_policy)
                self._lifecycle = True
            except ApiError:  # no ILM, not allowed, or no policy: `index setup` said which
                self._lifecycle = False
        for index in sorted(missing):
            try:
                self._client.indices.create(index=index, aliases={self.names.write_alias: {"is_write_index": False}},
                                            settings=self.layout.month_settings(index, bool(self._lifecycle)) or None)
            except ApiError as e:
                if "resource_already_exists_exception" not in str(e.body):
                    raise
            self._months.add(index)

    def _bulk_reason(self, info: dict[str, Any]) -> str:
        error = info.get("error")
        if isinstance(error, dict):
            error = f"{error.get('type', '')}: {error.get('reason', '')}"
        return f"Elasticsearch at {self.cfg.url} rejected it ({info.get('status', '?')}): {error}"

    # -- reads ----------------------------------------------------------------------------------

    def _mention(self, source: dict[str, Any]) -> Mention:
        m = Mention.from_dict(source)
        if m.published_at is not None:
            m.published_at = m.published_at.astimezone(self.tz)
        return m

    def get(self, mention_id: str) -> Mention | None:
        with self._errors(f"read mention {mention_id}"):
            found = self._find([mention_id], source=True)
        return self._mention(found[0]["_source"]) if found else None

    def _filters(self, request: SearchRequest) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        bounds = {op: moment.isoformat() for op, moment in (("gte", request.since), ("lt", request.until))
                  if moment is not None}
        if bounds:
            filters.append({"range": {"published": bounds}})
        for field, value in (("polarity", request.polarity), ("source", request.source),
                             ("institutions", request.institution), ("group", request.group_id)):
            if value:
                filters.append({"term": {field: value}})
        if request.allowed_institutions is not None:
            filters.append({"terms": {"institutions": list(request.allowed_institutions)}})
        if request.corrected_only:
            filters.append({"exists": {"field": "corrected"}})
        return filters

    def _bool(self, request: SearchRequest) -> dict[str, Any]:
        must = [_query(request.query)] if request.query is not None else []
        return {"bool": {"must": must, "filter": self._filters(request)}}

    def search(self, request: SearchRequest) -> SearchResult:
        after = read_cursor(request)
        order = request.order if request.order != "relevance" or request.query is not None else "time"
        # A first page knows from the exact total whether more follow (one hit more would overstep the
        # 10,000-hit window at its edge); a cursor's page asks for one hit more instead.
        body: dict[str, Any] = {"query": self._bool(request), "sort": _SORTS[order],
                                "size": request.limit + (after is not None), "track_total_hits": True,
                                "track_scores": True}
        if request.facets:
            body["aggs"] = self._aggregations(request)
        with self._errors(f"search {self.names.read_alias}"):
            if after is None:
                found = self._client.search(index=self.names.read_alias, from_=request.offset, **body).body
                more = found["hits"]["total"]["value"] > request.offset + request.limit
                pit = self._open_pit() if more else None
            else:
                found, pit = self._search_after(body, after)
                more = len(found["hits"]["hits"]) > request.limit
        page = found["hits"]["hits"][:request.limit]
        hits, mark = [], highlighter(request.query)
        for h in page:
            m = self._mention(h["_source"])
            hits.append(Hit(m, mark(m.text), float(h.get("_score") or 0.0)))
        next_cursor = make_cursor(request, page[-1]["sort"], p=pit) if more and page else None
        facets = self._facets(request, found["aggregations"]) if request.facets else None
        return SearchResult(found["hits"]["total"]["value"], hits, next_cursor, facets)

    def _open_pit(self) -> str:
        return str(self._client.open_point_in_time(index=self.names.read_alias, keep_alive=PIT_KEEP_ALIVE).body["id"])

    def _search_after(self, body: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The page after a cursor, in its point in time; one that has expired is replaced by a new one."""
        pit = after.get("p") or self._open_pit()
        try:
            found = self._client.search(pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE}, search_after=after["k"],
                                        **body).body
        except NotFoundError:  # the point in time expired (or the cluster restarted)
            pit = self._open_pit()
            found = self._client.search(pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE}, search_after=after["k"],
                                        **body).body
        return found, str(found.get("pit_id", pit))

    def _origin(self, request: SearchRequest) -> datetime:
        return request.since or datetime(1970, 1, 1, tzinfo=self.tz)

    def _aggregations(self, request: SearchRequest) -> dict[str, Any]:
        assert request.facets is not None
        size, step = request.facets.size, request.facets.interval_seconds * 1000
        histogram = {"field": "published", "fixed_interval": f"{request.facets.interval_seconds}s",
                     "offset": f"{_epoch_ms(self._origin(request)) % step}ms", "min_doc_count": 1}
        aggs: dict[str, Any] = {"timeline": {"date_histogram": histogram,
                                             "aggs": {"polarity": {"terms": {"field": "polarity", "size": 10}}}}}
        for name, field in (("sources", "source"), ("institutions", "institutions"), ("categories", "categories"),
                            ("groups", "group")):
            aggs[name] = {"terms": {"field": field, "size": size}}
        return aggs

    def _facets(self, request: SearchRequest, aggs: dict[str, Any]) -> Facets:
        assert request.facets is not None
        size, step = request.facets.size, request.facets.interval_seconds * 1000
        origin = self._origin(request)
        counts = {(b["key"] - _epoch_ms(origin)) // step: {p["key"]: p["doc_count"] for p in b["polarity"]["buckets"]}
                  for b in aggs["timeline"]["buckets"]}

        def pairs(name: str) -> list[tuple[str, int]]:
            return top([(b["key"], b["doc_count"]) for b in aggs[name]["buckets"]], size)

        return Facets(timeline=timeline(counts, origin, request.facets.interval_seconds), sources=pairs("sources"),
                      institutions=pairs("institutions"), categories=pairs("categories"), groups=pairs("groups"))

    def _hits(self, query: dict[str, Any], batch_size: int, source: bool) -> Iterator[list[dict[str, Any]]]:
        """Every hit of `query` over the read alias, a page at a time: a point in time and
        `search_after` on `_shard_doc` (the cheapest stable order), so there is no 10,000-hit window
        and the pages are one consistent view even while others write."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        with self._errors(f"scan {self.names.read_alias}"):
            if self._unrefreshed:  # this process's own writes belong in the view
                self._client.indices.refresh(index=self.names.read_alias)
                self._unrefreshed = False
            pit = self._client.open_point_in_time(index=self.names.read_alias, keep_alive=PIT_KEEP_ALIVE).body["id"]
        try:
            after: list[Any] | None = None
            while True:
                with self._errors(f"scan {self.names.read_alias}"):
                    body = self._client.search(pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE}, query=query,
                                               sort=[{"_shard_doc": "asc"}], size=batch_size, search_after=after,
                                               source=source, track_total_hits=False).body
                pit = body.get("pit_id", pit)
                hits = body["hits"]["hits"]
                if not hits:
                    return
                after = hits[-1]["sort"]
                yield hits
                if len(hits) < batch_size:
                    return
        finally:
            if not self._closed:
                # A point in time holds segments on the cluster until it expires: give it back now.
                self._client.options(ignore_status=404).close_point_in_time(id=pit)

    def scan(self, request: SearchRequest | None = None, batch_size: int = SCAN_BATCH) -> Iterator[list[Mention]]:
        query = self._bool(request or SearchRequest(query=None))
        for hits in self._hits(query, batch_size, source=True):
            yield [self._mention(h["_source"]) for h in hits]

    def count(self) -> int:
        with self._errors(f"count {self.names.read_alias}"):
            if self._unrefreshed:
                self._client.indices.refresh(index=self.names.read_alias)
                self._unrefreshed = False
            return int(self._client.count(index=self.names.read_alias).body["count"])

    def existing(self, ids: list[str]) -> set[str]:
        """Which of these ids the store holds (a realtime look-up: writes not yet refreshed count)."""
        with self._errors(f"look up {len(ids)} mentions"):
            return {d["_id"] for d in self._find(ids, source=False)}

    def prune(self, before: datetime, *, dry_run: bool = False) -> int:
        query = {"bool": {"filter": [{"range": {"published": {"lt": before.isoformat()}}}]}}
        if dry_run:
            with self._errors(f"count mentions to prune in {self.names.read_alias}"):
                return int(self._client.count(index=self.names.read_alias, query=query).body["count"])
        deleted = self._drop_old_indices(before)
        # Scan, then delete by id: _delete_by_query lives in the reindex module, which not every
        # cluster has (the test node does not).
        for hits in self._hits(query, BULK_CHUNK, source=False):
            actions = ({"_op_type": "delete", "_index": h["_index"], "_id": h["_id"]} for h in hits)
            with self._errors(f"prune mentions in {self.names.read_alias}"):
                for ok, item in streaming_bulk(self._client, actions, chunk_size=BULK_CHUNK, raise_on_error=False,
                                               raise_on_exception=False, max_retries=BULK_MAX_RETRIES,
                                               initial_backoff=BULK_INITIAL_BACKOFF):
                    info = item["delete"]
                    if ok:
                        deleted += 1
                    elif info.get("status") != 404:  # gone already: another prune got there first
                        raise StoreError(f"cannot prune mention {info.get('_id')}: {self._bulk_reason(info)}")
        if deleted:
            with self._errors(f"refresh {self.names.read_alias}"):
                self._client.indices.refresh(index=self.names.read_alias)
        return deleted

    def _drop_old_indices(self, before: datetime) -> int:
        """Delete whole the indices whose newest mention is older than `before` (a month past the
        retention, usually): one request instead of a delete per mention. Decided by the newest
        `published` in each, not by the name: an index can hold a mention whose date moved later."""
        with self._errors(f"find old indices behind {self.names.read_alias}"):
            newest = {"newest": {"max": {"field": "published"}}}
            body = self._client.search(index=self.names.read_alias, size=0, aggs={"indices": {
                "terms": {"field": "_index", "size": 10_000}, "aggs": newest}}).body
            old = {b["key"]: b["doc_count"] for b in body["aggregations"]["indices"]["buckets"]
                   if b["newest"]["value"] is not None and b["newest"]["value"] < before.timestamp() * 1000}
            if old:
                self._client.indices.delete(index=",".join(sorted(old)))
                self._months -= set(old)
        return sum(old.values())

    def count_by_interval(self, since: datetime, until: datetime, interval_seconds: int, *,
                          institution: str | None = None, polarity: str | None = None,
                          source: str | None = None) -> list[tuple[datetime, int]]:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        start, end, step = _epoch_ms(since), _epoch_ms(until), interval_seconds * 1000
        n = max(0, -(-(end - start) // step))
        if n == 0:
            return []
        request = SearchRequest(query=None, since=since, until=until, polarity=polarity, source=source,
                                institution=institution)
        # UTC buckets shifted by `offset` start exactly at `since`, whatever its timezone.
        histogram = {"field": "published", "fixed_interval": f"{interval_seconds}s",
                     "offset": f"{start % step}ms", "min_doc_count": 0,
                     "extended_bounds": {"min": start, "max": start + (n - 1) * step}}
        with self._errors(f"count mentions in {self.names.read_alias}"):
            body = self._client.search(index=self.names.read_alias, query=self._bool(request), size=0,
                                       aggs={"buckets": {"date_histogram": histogram}}).body
        counts = {(b["key"] - start) // step: b["doc_count"] for b in body["aggregations"]["buckets"]["buckets"]}
        tz = since.tzinfo or UTC
        return [(datetime.fromtimestamp((start + i * step) / 1000, tz), counts.get(i, 0)) for i in range(n)]


__all__ = ["ElasticsearchStore", "connect", "translated_errors"]
