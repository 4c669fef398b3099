"""The alert-store contract, run on both backends: a real SQLite file in a temporary folder and the
real Elasticsearch node (`YUQING_TEST_ES_URL`)."""
from __future__ import annotations

import json
import multiprocessing
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import es_url

from yuqing.alertstore import Conflict, open_alert_store
from yuqing.alertstore.legacy import migrate_json_state
from yuqing.alertstore.model import (
    Alert,
    AlertQuery,
    AlertRecord,
    Case,
    CaseEvent,
    CaseQuery,
    Delivery,
    Silence,
    idempotency_key,
)
from yuqing.config import ElasticsearchConfig, from_mapping
from yuqing.storage.base import StoreError

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)


def _open(spec: dict[str, Any]) -> Any:
    if spec["backend"] == "sqlite":
        from yuqing.alertstore.sqlite import SqliteAlertStore

        return SqliteAlertStore(spec["path"])
    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore

    return ElasticsearchAlertStore(ElasticsearchConfig(url=spec["url"], index_prefix=spec["prefix"]))


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def spec(request, tmp_path) -> Any:
    if request.param == "sqlite":
        yield {"backend": "sqlite", "path": str(tmp_path / "yuqing.db")}
        return
    spec = {"backend": "elasticsearch", "url": es_url(), "prefix": f"test-{uuid.uuid4().hex[:8]}"}
    store = _open(spec)
    store.setup()
    yield spec
    store.drop()
    store.close()


@pytest.fixture
def store(spec) -> Any:
    s = _open(spec)
    yield s
    s.close()


def alert(rule: str = "neg", institution: str = "招商银行", at: datetime = T0, count: int = 30) -> Alert:
    return Alert(rule=rule, institution=institution, polarity="negative", bucket_start=at - timedelta(hours=1),
                 bucket_end=at, count=count, baseline=2.5, score=0.99, created_at=at, channels=["mail"])


def record(rule: str = "neg", institution: str = "招商银行", at: datetime = T0, state: str = "firing",
           severity: str = "关注") -> AlertRecord:
    a = alert(rule, institution, at)
    return AlertRecord(id=a.id, rule=rule, institution=institution, severity=severity, state=state, started_at=at,
                       updated_at=at, last_seen_at=at, latest=a, next_notify_at=at + timedelta(hours=6))


def test_alert_round_trip_and_versions(store):
    r = record()
    saved = store.put_alert(r)
    assert saved.version == 1
    got = store.get_alert(r.id)
    assert got == saved and got.latest.count == 30 and got.next_notify_at == T0 + timedelta(hours=6)
    assert got.started_at.utcoffset() == timedelta(hours=8)

    got.state, got.acknowledged_by = "acknowledged", "王经理"
    assert store.put_alert(got).version == 2
    with pytest.raises(Conflict, match=r.id):  # written from the stale copy read before
        store.put_alert(saved)
    with pytest.raises(Conflict):  # a second "new" alert with the same id
        store.put_alert(r)
    assert store.get_alert(r.id).acknowledged_by == "王经理"
    assert store.get_alert("no-such-alert") is None


def test_alerts_are_queryable_by_institution_rule_state_and_time(store):
    a = store.put_alert(record("neg", "招商银行", T0))
    b = store.put_alert(record("neg", "平安银行", T0 + timedelta(hours=1), state="resolved"))
    c = store.put_alert(record("complaints", "招商银行", T0 + timedelta(days=2), state="acknowledged"))

    def ids(**kwargs: Any) -> list[str]:
        return [r.id for r in store.list_alerts(AlertQuery(**kwargs))]

    assert ids() == [c.id, b.id, a.id]  # newest update first
    assert ids(institution="招商银行") == [c.id, a.id]
    assert ids(rule="neg") == [b.id, a.id]
    assert ids(states=("firing", "acknowledged")) == [c.id, a.id]
    assert ids(since=T0 + timedelta(minutes=30)) == [c.id, b.id]
    assert ids(until=T0 + timedelta(days=1)) == [b.id, a.id]
    assert ids(limit=1) == [c.id]
    assert ids(institution="招商银行", rule="neg", states=("resolved",)) == []


def test_alerts_about_a_source_are_queryable_by_source(store):
    """Silence alerts are grouped per source, with no institution: `source=` finds them, on both
    backends, and an institution query does not."""
    a = alert("quiet", "")
    a.source, a.kind = "weibo", "silence"
    quiet = store.put_alert(AlertRecord(id=a.id, rule="quiet", institution="", source="weibo", severity="预警",
                                        state="firing", started_at=T0, updated_at=T0, last_seen_at=T0, latest=a))
    other = store.put_alert(record("neg", "招商银行", T0 + timedelta(hours=1)))
    assert [r.id for r in store.list_alerts(AlertQuery(source="weibo"))] == [quiet.id]
    assert [r.id for r in store.list_alerts(AlertQuery(rule="quiet", institution="", source="weibo"))] == [quiet.id]
    assert [r.id for r in store.list_alerts(AlertQuery(institution="招商银行", source=""))] == [other.id]
    assert store.list_alerts(AlertQuery(institution="weibo")) == []
    got = store.get_alert(quiet.id)
    assert (got.source, got.latest.source, got.latest.kind, got.subject) == ("weibo", "weibo", "silence", "weibo")


def test_a_file_of_alert_schema_1_gains_the_source_column(tmp_path):
    """Alerts written before `source` existed stay readable and queryable after the upgrade."""
    import sqlite3

    from yuqing.alertstore.sqlite import MIGRATIONS, SCHEMA_KEY, SqliteAlertStore
    from yuqing.storage.sqlite import migrate

    path = tmp_path / "yuqing.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, path, MIGRATIONS[:1], SCHEMA_KEY)
    r = record()
    doc = {k: v for k, v in r.to_dict().items() if k != "source"}
    db.execute("INSERT INTO alerts (id, rule, institution, state, started_ts, updated_ts, version, doc) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (r.id, r.rule, r.institution, r.state, T0.timestamp(),
                                                   T0.timestamp(), 1, json.dumps(doc)))
    db.close()
    s = SqliteAlertStore(path)
    try:
        [got] = s.list_alerts(AlertQuery(institution="招商银行", source=""))
        assert got.id == r.id and got.source == ""
    finally:
        s.close()


def test_delivery_keys_are_recorded_once(store):
    a = alert()
    d = Delivery(alert_id=a.id, channel="mail", kind="firing", notice=a, created_at=T0, due_at=T0)
    assert d.key == idempotency_key(a.id, "mail", "firing") and len(d.key) == 32
    assert store.add_delivery(d) is True
    assert store.add_delivery(Delivery(alert_id=a.id, channel="mail", kind="firing", notice=a, created_at=T0,
                                       due_at=T0 + timedelta(hours=1))) is False
    later = Delivery(alert_id=a.id, channel="hook", kind="firing", notice=a, created_at=T0 + timedelta(seconds=1),
                     due_at=T0 + timedelta(hours=8))  # held back by quiet hours
    assert store.add_delivery(later)
    assert [x.key for x in store.deliveries(pending_due=T0)] == [d.key]
    assert [x.key for x in store.deliveries(pending_due=T0 + timedelta(hours=9))] == [d.key, later.key]
    assert store.count_pending() == 2

    d.attempts, d.last_error, d.due_at = 1, "SMTP down", T0 + timedelta(minutes=1)
    store.put_delivery(d)
    assert store.deliveries(pending_due=T0) == []
    d.state, d.delivered_at = "delivered", T0 + timedelta(minutes=2)
    store.put_delivery(d)
    assert [(x.key, x.state, x.attempts) for x in store.deliveries(alert_id=a.id)] == [
        (d.key, "delivered", 1), (later.key, "pending", 0)]
    assert store.count_pending() == 1
    assert store.deliveries(alert_id="other") == []


def test_rule_state(store):
    assert store.get_rule_state("neg", "招商银行") == {}
    store.put_rule_state("neg", "招商银行", {"last_alert": T0.isoformat(), "checks": 3})
    store.put_rule_state("neg", "平安银行", {"checks": 1})
    assert store.get_rule_state("neg", "招商银行") == {"last_alert": T0.isoformat(), "checks": 3}
    store.put_rule_state("neg", "招商银行", {"checks": 4})
    assert store.get_rule_state("neg", "招商银行") == {"checks": 4}


def test_silences(store):
    week = Silence(until=T0 + timedelta(days=7), created_by="李四", reason="已知的系统升级", created_at=T0,
                   institution="招商银行")
    hour = Silence(until=T0 + timedelta(hours=1), created_by="张三", reason="演练", created_at=T0, severity="预警")
    store.put_silence(week)
    store.put_silence(hour)
    assert [s.id for s in store.silences()] == [hour.id, week.id]
    assert [s.id for s in store.silences(active_at=T0 + timedelta(hours=2))] == [week.id]
    assert store.silences(active_at=T0 - timedelta(minutes=1)) == []
    assert store.silences()[1] == week
    assert store.delete_silence(week.id) is True
    assert store.delete_silence(week.id) is False
    assert [s.id for s in store.silences()] == [hour.id]


def test_cases_round_trip_versions_and_queries(store):
    a = Case(mention_id="m1", title="<b>暴力催收</b>", institution="招商银行", opened_by="分析员", opened_at=T0,
             history=[CaseEvent(T0, "分析员", "opened")])
    saved = store.put_case(a)
    assert saved.version == 1 and store.get_case(a.id) == saved
    assert saved.opened_at.utcoffset() == timedelta(hours=8) and saved.updated_at == T0
    saved.status, saved.handler, saved.accepted_at = "in_progress", "王五", T0 + timedelta(hours=3)
    saved.history.append(CaseEvent(T0 + timedelta(hours=3), "分析员", "assigned", "王五"))
    assert store.put_case(saved).version == 2
    with pytest.raises(Conflict, match=a.id):
        store.put_case(saved)  # the copy read before the last write
    with pytest.raises(Conflict):
        store.put_case(a)  # a second new case with the same id
    got = store.get_case(a.id)
    assert (got.handler, got.accepted_at, got.history[-1].value) == ("王五", T0 + timedelta(hours=3), "王五")
    b = store.put_case(Case(mention_id="m2", title="", institution="平安银行", opened_by="x",
                            opened_at=T0 + timedelta(days=1)))
    c = store.put_case(Case(mention_id="m1", title="", institution="招商银行", opened_by="x",
                            opened_at=T0 + timedelta(days=2), status="closed"))

    def ids(**kwargs: Any) -> list[str]:
        return [x.id for x in store.list_cases(CaseQuery(**kwargs))]

    assert ids() == [c.id, b.id, a.id]  # newest first
    assert ids(statuses=("open", "in_progress")) == [b.id, a.id]
    assert ids(handler="王五") == [a.id]
    assert ids(institutions=("招商银行",)) == [c.id, a.id]
    assert ids(institutions=()) == []  # a user limited to no institution sees none
    assert ids(mention_id="m1") == [c.id, a.id]
    assert ids(limit=1) == [c.id]
    assert store.get_case("no-such-case") is None


def _bump(spec: dict[str, Any], alert_id: str, times: int) -> int:
    """Read-modify-write `times` times, retrying on Conflict; returns the conflicts met."""
    store = _open(spec)
    conflicts = 0
    try:
        for _ in range(times):
            while True:
                r = store.get_alert(alert_id)
                r.notices += 1
                try:
                    store.put_alert(r)
                    break
                except Conflict:
                    conflicts += 1
    finally:
        store.close()
    return conflicts


def test_two_processes_updating_one_alert_lose_nothing(spec, store):
    r = store.put_alert(record())
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(_bump, [(spec, r.id, 15), (spec, r.id, 15)])
    assert store.get_alert(r.id).notices == 30
    assert store.get_alert(r.id).version == 31


def test_closed_store_raises_store_error(spec):
    s = _open(spec)
    s.close()
    with pytest.raises(StoreError):
        s.list_alerts(AlertQuery())


def _legacy_files(data_dir: Path) -> tuple[Alert, Alert]:
    old, still = alert(at=T0 - timedelta(days=3)), alert(institution="平安银行")
    (data_dir / "alerts").mkdir(parents=True)
    (data_dir / "alerts" / "log.jsonl").write_text(
        json.dumps(old.to_dict(), ensure_ascii=False) + "\n{damaged\n"
        + json.dumps(still.to_dict(), ensure_ascii=False) + "\n", encoding="utf-8")
    (data_dir / "alerts" / "state.json").write_text(json.dumps(
        {f"neg|{still.institution}": {"last_alert": still.created_at.isoformat(), "alert_id": still.id}}),
        encoding="utf-8")
    spool = data_dir / "spool" / "alerts"
    spool.mkdir(parents=True)
    (spool / f"x-{still.id}-mail.json").write_text(json.dumps(
        {"channel": "mail", "attempts": 2, "last_error": "SMTP down", "alert": still.to_dict()}), encoding="utf-8")
    (spool / "broken.json").write_text("{not json", encoding="utf-8")
    return old, still


def test_json_state_is_migrated_once(spec, store, tmp_path, caplog):
    data_dir = tmp_path / "data"
    old, still = _legacy_files(data_dir)
    lines = migrate_json_state(data_dir, store)
    assert len(lines) == 3 and "2 alert(s)" in lines[0]
    assert "line 2" in caplog.text and "broken.json" in caplog.text
    assert {r.id: r.state for r in store.list_alerts(AlertQuery())} == {old.id: "resolved", still.id: "resolved"}
    assert store.get_alert(still.id).latest == still
    assert store.get_rule_state("neg", "平安银行") == {"last_alert": still.created_at.isoformat()}
    [pending] = store.deliveries(pending_due=T0)
    assert (pending.key, pending.attempts, pending.notice) == (idempotency_key(still.id, "mail", "firing"), 2, still)
    assert sorted(p.name for p in (data_dir / "alerts").iterdir()) == [
        "log.jsonl.migrated", "migrate.lock", "state.json.migrated"]
    assert [p.name for p in (data_dir / "spool" / "alerts").iterdir()] == ["broken.json"]  # kept for a human
    assert migrate_json_state(data_dir, store) == []  # nothing left to move
    assert len(store.list_alerts(AlertQuery())) == 2 and store.count_pending() == 1


def test_the_factory_builds_the_configured_backend_and_migrates(tmp_path):
    data_dir = tmp_path / "data"
    _legacy_files(data_dir)
    config = from_mapping({}, "test.yaml", data_dir, env={})
    store = open_alert_store(config)
    try:
        assert len(store.list_alerts(AlertQuery())) == 2
    finally:
        store.close()
    import sqlite3

    with sqlite3.connect(config.sqlite_path) as db:  # the tables live in the mentions' file
        assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 2


@pytest.mark.elasticsearch
def test_elasticsearch_setup_is_idempotent():
    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore

    s = ElasticsearchAlertStore(ElasticsearchConfig(url=es_url(), index_prefix=f"test-{uuid.uuid4().hex[:8]}"))
    try:
        with pytest.raises(StoreError, match="yuqing index setup"):
            s.get_alert("x")
        first = s.setup()
        assert any(line.startswith("created index template") for line in first)
        assert all(line.startswith("unchanged") for line in s.setup())
    finally:
        s.drop()
        s.close()
