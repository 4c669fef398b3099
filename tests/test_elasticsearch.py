"""Elasticsearch-specific behaviour of the store, against the real test node
(`tests/elasticsearch/node start`, YUQING_TEST_ES_URL). What every backend must do is in
tests/test_store_contract.py; this covers setup, rejected documents, rollover, 429s and errors."""
from __future__ import annotations

import socket
import threading
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from elasticsearch import ApiError, Elasticsearch

import yuqing.storage.elasticsearch as es_module
from tests.conftest import SHANGHAI, es_url
from yuqing.config import ElasticsearchConfig
from yuqing.model import Mention
from yuqing.query import parse
from yuqing.storage.base import SearchRequest, StoreError
from yuqing.storage.elasticsearch import ElasticsearchStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
BREAKER = "network.breaker.inflight_requests.limit"


def mention(i: int, content: str = "客户投诉信用卡暴力催收", **kw) -> Mention:
    return Mention(url=f"https://example.org/es/{i}", source="weibo", title=f"帖子{i}", content=content,
                   published_at=T0 + timedelta(minutes=i), polarity="negative", institutions=["招商银行"], **kw)


@pytest.fixture
def cfg() -> ElasticsearchConfig:
    return ElasticsearchConfig(url=es_url(), index_prefix=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def raw(cfg):
    client = Elasticsearch(cfg.url)
    yield client
    client.close()


@pytest.fixture
def es_store(cfg):
    s = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
    s.setup()
    yield s
    s.drop()
    s.close()


def has_ilm(client: Elasticsearch) -> bool:
    try:
        client.ilm.get_lifecycle()
        return True
    except ApiError:
        return False


@pytest.mark.elasticsearch
def test_setup_is_idempotent(cfg):
    s = ElasticsearchStore(cfg, tz=SHANGHAI)
    assert s.ping()
    try:
        first = s.setup()
        second = s.setup()
    finally:
        s.drop()
        s.close()
    names = s.names
    assert f"created index template {names.template}" in first
    assert (f"created index {names.first_index} with aliases {names.write_alias}, {names.read_alias} "
            "(from the template)") in first
    assert f"unchanged: index template {names.template}" in second
    assert f"unchanged: alias {names.write_alias} -> {names.first_index}" in second
    assert not [line for line in second if line.startswith(("created", "updated"))]


@pytest.mark.elasticsearch
def test_setup_updates_a_changed_template_and_the_write_index_mapping(es_store, raw):
    names = es_store.names
    raw.indices.put_index_template(name=names.template, index_patterns=[names.index_pattern], priority=200,
                                   meta={"managed_by": "yuqing", "digest": "an older version"})
    lines = es_store.setup()
    assert f"updated index template {names.template}" in lines
    assert f"updated mappings of {names.first_index}" in lines
    got = raw.indices.get_index_template(name=names.template).body["index_templates"][0]["index_template"]
    assert got["template"]["mappings"]["properties"]["title_seg"]["analyzer"] == "whitespace"


@pytest.mark.elasticsearch
def test_setup_upgrades_an_index_made_from_the_first_mapping(cfg, raw):
    """An index set up by a yuqing with mapping v1 gets the v2 fields (repost groups) from
    `index setup`, in place, and keeps its documents; a second setup changes nothing."""
    import index_config

    old = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
    old.layout = index_config.load(cfg.index_prefix, 1)
    try:
        old.setup()
        old.index_many([mention(1)])
        new = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
        lines = new.setup()
        assert f"updated mappings of {new.names.first_index}" in lines
        fields = raw.indices.get_mapping(index=new.names.first_index).body[new.names.first_index]
        assert {"group_id", "group", "repost_of", "published_estimated"} <= set(fields["mappings"]["properties"])
        assert not [line for line in new.setup() if line.startswith(("created", "updated"))]
        assert new.search(SearchRequest(query=parse("催收"))).total == 1
        new.close()
    finally:
        old.drop()
        old.close()


@pytest.mark.elasticsearch
def test_setup_degrades_without_ilm_and_says_so(es_store, raw):
    """The bare test node has no ILM: the policy is skipped with a note and the template must not
    carry lifecycle settings, which such a cluster rejects. On a cluster with ILM, both are there."""
    lines = es_store.setup()
    settings = raw.indices.get_index_template(name=es_store.names.template).body[
        "index_templates"][0]["index_template"]["template"]["settings"]
    lifecycle = settings.get("index", {}).get("lifecycle", {})
    if has_ilm(raw):
        assert f"unchanged: ILM policy {es_store.names.ilm_policy}" in lines
        assert lifecycle["name"] == es_store.names.ilm_policy
    else:
        assert any(line.startswith(f"skipped ILM policy {es_store.names.ilm_policy}: this cluster has no index "
                                   "lifecycle management") for line in lines)
        assert lifecycle == {}


@pytest.mark.elasticsearch
def test_rejected_document_is_reported_and_the_rest_written(es_store):
    good = mention(1)
    refused = mention(2, engagement="lots")  # type: ignore[arg-type]  # the index maps engagement as a long
    unwritable = mention(3, sentiment=float("nan"))  # not JSON
    report = es_store.index_many([refused, good, unwritable])
    assert (report.created, report.updated) == (1, 0)
    reasons = dict(report.failed)
    assert sorted(reasons) == sorted([refused.id, unwritable.id])
    assert "400" in reasons[refused.id] and "engagement" in reasons[refused.id]
    assert reasons[unwritable.id].startswith("cannot serialise")
    assert es_store.get(good.id) is not None
    assert es_store.get(refused.id) is None and es_store.get(unwritable.id) is None


@pytest.mark.elasticsearch
def test_replay_after_rollover_updates_in_place(es_store, raw):
    """After the write alias rolls over, an old mention written again must not get a second copy."""
    old = mention(1)
    es_store.index_many([old])
    rolled = raw.indices.rollover(alias=es_store.names.write_alias).body
    assert rolled["rolled_over"]
    old.polarity = "neutral"
    report = es_store.index_many([old, mention(2)])
    assert (report.created, report.updated, report.failed) == (1, 1, [])
    result = es_store.search(SearchRequest(query=parse("催收")))
    assert result.total == 2
    assert es_store.get(old.id).polarity == "neutral"
    placed = {h["_id"]: h["_index"] for h in raw.search(index=es_store.names.read_alias, size=10).body["hits"]["hits"]}
    assert placed == {old.id: es_store.names.first_index, mention(2).id: rolled["new_index"]}


def _breaker_trips(client: Elasticsearch) -> int:
    nodes = client.nodes.stats(metric="breaker").body["nodes"].values()
    return sum(n["breakers"]["inflight_requests"]["tripped"] for n in nodes)


@pytest.fixture
def small_inflight_limit(raw):
    """A real 429: the node's in-flight request circuit breaker, lowered so that a bulk request trips
    it but small requests (multi-get, settings) pass. Restored after the test even if it fails; the
    node is shared, so keep the window short."""
    def restore() -> None:
        raw.cluster.put_settings(persistent={BREAKER: None})

    raw.cluster.put_settings(persistent={BREAKER: "4kb"})
    yield restore
    restore()


LONG = "客户反映信用卡被暴力催收，催收人员多次打电话骚扰家人和同事。" * 8


@pytest.mark.elasticsearch
def test_bulk_429_is_retried_until_accepted(es_store, raw, small_inflight_limit, monkeypatch):
    monkeypatch.setattr(es_module, "BULK_INITIAL_BACKOFF", 0.2)
    before = _breaker_trips(raw)
    timer = threading.Timer(1.0, small_inflight_limit)  # the pressure goes away while we back off
    timer.start()
    try:
        report = es_store.index_many([mention(i, LONG) for i in range(20)])
    finally:
        timer.cancel()
    assert _breaker_trips(raw) > before  # it really was rejected at least once
    assert (report.created, report.failed) == (20, [])


@pytest.mark.elasticsearch
def test_bulk_429_that_never_clears_is_reported_not_dropped(es_store, raw, small_inflight_limit, monkeypatch):
    monkeypatch.setattr(es_module, "BULK_INITIAL_BACKOFF", 0.01)
    batch = [mention(i, LONG) for i in range(20)]
    report = es_store.index_many(batch)
    small_inflight_limit()
    assert report.created == 0
    assert sorted(i for i, _ in report.failed) == sorted(m.id for m in batch)
    assert all("429" in reason and "circuit_breaking_exception" in reason for _, reason in report.failed)


@pytest.mark.elasticsearch
def test_search_before_setup_says_what_to_run(cfg):
    s = ElasticsearchStore(cfg, tz=SHANGHAI)
    with pytest.raises(StoreError, match=r"yuqing index setup"):
        s.search(SearchRequest(query=None))
    assert s.get("anything") is None  # nothing set up: nothing stored, not an error
    s.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_cluster_is_a_clear_error():
    url = f"http://127.0.0.1:{_closed_port()}"
    s = ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix="yuqing"), tz=SHANGHAI)
    assert s.ping() is False
    for action in (s.setup, lambda: s.index_many([mention(1)]), lambda: s.search(SearchRequest(query=None))):
        with pytest.raises(StoreError, match=rf"cannot reach Elasticsearch at {url}: .*is it running\? "
                                             r"set store\.elasticsearch\.url"):
            action()
    s.close()


@pytest.mark.parametrize("field, value, problem", [
    ("url", "127.0.0.1:9200", "must start with http:// or https://"),
    ("index_prefix", "Yuqing", "not a valid Elasticsearch index name"),
    ("ca_file", "/nonexistent/ca.pem", "no such file"),
])
def test_bad_config_names_the_setting(field, value, problem):
    cfg = ElasticsearchConfig(**{"url": "https://127.0.0.1:9200", field: value})
    with pytest.raises(StoreError, match=rf"store\.elasticsearch\.{field}.*{problem}"):
        ElasticsearchStore(cfg, tz=SHANGHAI)


class _NotElasticsearch(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>404 page not found</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_is_not_elasticsearch_is_named():
    """A real HTTP server on 127.0.0.1 that is not Elasticsearch (a wrong port, a proxy)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotElasticsearch)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    s = ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix="yuqing"), tz=SHANGHAI)
    try:
        with pytest.raises(StoreError, match=rf"{url} answered HTTP 404 without an Elasticsearch response; "
                                             r"is store\.elasticsearch\.url"):
            s.search(SearchRequest(query=None))
    finally:
        s.close()
        server.shutdown()
        server.server_close()


@pytest.mark.elasticsearch
def test_two_copies_in_one_batch_count_as_created_then_updated(es_store):
    first, second = mention(1), mention(1, "更新后的内容：催收已停止")
    report = es_store.index_many([first, second])
    assert (report.created, report.updated, report.failed) == (1, 1, [])
    assert es_store.get(first.id).content == "更新后的内容：催收已停止"


@pytest.mark.elasticsearch
def test_setup_restores_a_removed_write_alias(es_store, raw):
    names = es_store.names
    raw.indices.delete_alias(index=names.first_index, name=names.write_alias)
    assert f"created alias {names.write_alias} -> {names.first_index}" in es_store.setup()
    assert es_store.index_many([mention(1)]).created == 1


@pytest.mark.elasticsearch
def test_writes_are_searchable_after_close_and_drop_then_close_is_clean():
    """A command that writes and exits leaves its mentions searchable without waiting for the
    periodic refresh; closing after drop() (tests, benchmarks) raises nothing."""
    cfg = ElasticsearchConfig(url=es_url(), index_prefix=f"test-{uuid.uuid4().hex[:8]}")
    writer = ElasticsearchStore(cfg, tz=SHANGHAI)
    writer.setup()
    writer.index_many([Mention(url="https://example.org/a", source="weibo", title="催收投诉",
                               published_at=datetime(2026, 3, 1, tzinfo=SHANGHAI))])
    writer.close()
    reader = ElasticsearchStore(cfg, tz=SHANGHAI)
    assert reader.search(SearchRequest(query=parse("催收"))).total == 1
    reader.index_many([Mention(url="https://example.org/b", source="weibo", title="又一条",
                               published_at=datetime(2026, 3, 1, tzinfo=SHANGHAI))])
    reader.drop()
    reader.close()
