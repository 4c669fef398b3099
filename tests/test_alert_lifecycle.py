"""The alert lifecycle: the transition function on its own, then whole checks on a real SQLite file
with real receivers (MailSink, a loopback HTTP server), faults included (a channel down then up,
a process killed with SIGKILL in the middle of a delivery), and the `yuqing alerts` commands."""
from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    NOW,
    alert_store_fixture,
    background,
    hourly,
    http_server_fixture,
    make_config,
    sink_fixture,
    sqlite_store_fixture,
)
from test_cli import yq

import alerts
from alerts import lifecycle
from alerts.channels import DeliveryError
from alerts.rules import SpikeRule
from yuqing.alertstore.model import Alert, AlertQuery, Silence, idempotency_key
from yuqing.model import Institution

RULE = SpikeRule(name="neg", institutions=(Institution(BANK),), channels=("mail",), cooldown_seconds=3600,
                 max_cooldown_seconds=3 * 3600, resolve_after_seconds=3600)
SPIKE_RULE = {"name": "neg", "type": "spike", "institution": BANK, "bucket": "1h", "history": "7d",
              "min_count": 5, "threshold": 0.95, "cooldown": "6h"}


def evidence(at: datetime, severity: str = "关注", count: int = 30) -> Alert:
    return Alert(rule="neg", institution=BANK, polarity="negative", bucket_start=at - timedelta(hours=1),
                 bucket_end=at, count=count, baseline=2.0, score=0.99, created_at=at, severity=severity)


class Run:
    """Drives `lifecycle.advance` through checks as the monitor does, keeping the record."""

    def __init__(self) -> None:
        self.record = None
        self.silences: list[Silence] = []

    def at(self, minutes: int, severity: str | None = "关注") -> list[str]:
        now = NOW + timedelta(minutes=minutes)
        spike = evidence(now, severity) if severity else None
        step = lifecycle.advance(RULE, self.record, spike, self.silences, now)
        if step.record is not None:
            self.record = step.record
        return [kind for kind, _ in step.notices]


def test_one_alert_per_spike_with_reminders_backing_off():
    run = Run()
    assert run.at(0) == ["firing"]
    first_id = run.record.id
    assert [run.at(m) for m in (5, 30, 55)] == [[], [], []]
    assert run.at(60) == ["repeat-关注-2"]  # after cooldown (1 h)
    assert run.at(150) == []  # the next waits 2 h
    assert run.at(180) == ["repeat-关注-3"]
    assert run.at(359) == []  # then 4 h, capped at max_cooldown (3 h)
    assert run.at(360) == ["repeat-关注-4"]
    assert run.record.id == first_id and run.record.state == "firing" and run.record.notices == 4


def test_resolved_notice_once_the_spike_has_been_gone_for_resolve_after():
    run = Run()
    run.at(0)
    assert run.at(30, severity=None) == []  # a pause is not the end
    assert run.record.state == "firing"
    assert run.at(60, severity=None) == ["resolved"]
    assert run.record.state == "resolved" and run.record.resolved_at == NOW + timedelta(hours=1)
    assert "has not held since" in run.record.note


def test_acknowledged_alert_stays_quiet_until_its_severity_rises():
    run = Run()
    run.at(0)
    run.record.state, run.record.acknowledged_by, run.record.note = "acknowledged", "王经理", "已联系客服"
    assert [run.at(m) for m in (60, 180, 361)] == [[], [], []]
    assert run.record.state == "acknowledged" and run.record.acknowledged_by == "王经理"
    assert run.at(400, severity="预警") == ["escalated-预警"]
    assert (run.record.state, run.record.severity, run.record.acknowledged_by) == ("firing", "预警", "")
    assert run.record.note == "已联系客服"
    assert run.at(420, severity="关注") == []  # an incident keeps its highest severity
    assert run.record.severity == "预警"


def test_silences_mute_up_to_their_severity_and_the_alert_speaks_when_they_end():
    run = Run()
    run.silences = [Silence(until=NOW + timedelta(hours=2), created_by="李四", reason="演练", created_at=NOW,
                            institution=BANK, severity="预警")]
    assert run.at(0) == [] and run.record.state == "silenced" and run.record.silence_id == run.silences[0].id
    assert run.at(30, severity="预警") == []
    assert run.at(60, severity="紧急") == ["escalated-紧急"]  # above what the silence covers
    run2 = Run()
    run2.silences = run.silences
    run2.at(0)
    assert run2.at(121) == ["firing"]  # the silence ended: its first notice
    run3 = Run()
    run3.silences = run.silences
    run3.at(0)
    assert run3.at(60, severity=None) == []
    assert run3.at(61, severity=None) == []  # resolved without a word: nobody was told it started
    assert run3.record.state == "resolved"


def test_no_new_alert_while_the_rule_is_kept_quiet():
    step = lifecycle.advance(RULE, None, evidence(NOW), [], NOW, quiet_until=NOW + timedelta(minutes=1))
    assert step.record is None and step.notices == []


# -- whole checks on the real store ------------------------------------------------------------

def spiky_week(store, end: datetime = NOW, spike: int = 30) -> None:
    hourly(store, end, background(7 * 24, seed=1) + [spike], kind=0, risk=0.6)


def quick(setup: alerts.AlertSetup) -> alerts.AlertSetup:
    return dataclasses.replace(setup, retry_delays=(0.0, 0.0))


def kinds(outbox) -> list[str]:
    return [email.message_from_bytes(p.read_bytes())["X-Yuqing-Notice"] for p in outbox.messages()]


def test_a_check_resolves_and_says_so(tmp_path, sqlite_store, alert_store, sink):
    config = make_config(tmp_path / "data", sink.port, {"rules": [SPIKE_RULE]})
    spiky_week(sqlite_store)
    setup = quick(alerts.load(config))
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    [resolved] = alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(hours=2), setup=setup)
    assert (resolved.id, resolved.notice) == (a.id, "resolved")
    assert kinds(sink) == ["firing", "resolved"]
    last = email.message_from_bytes(sink.messages()[-1].read_bytes(), policy=email.policy.default)
    assert "已恢复" in last["Subject"]
    assert alert_store.get_alert(a.id).state == "resolved"


def test_dry_run_shows_the_notice_and_changes_nothing(tmp_path, sqlite_store, alert_store, sink):
    config = make_config(tmp_path / "data", sink.port, {"rules": [SPIKE_RULE]})
    spiky_week(sqlite_store)
    setup = quick(alerts.load(config))
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup, dry_run=True)
    assert a.notice == "firing" and a.count == 30
    assert alert_store.list_alerts(AlertQuery()) == [] and alert_store.count_pending() == 0
    assert sink.messages() == []
    assert len(alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)) == 1  # the real one


def test_quiet_hours_hold_notices_below_urgent(tmp_path, sqlite_store, alert_store, sink):
    rule = {**SPIKE_RULE, "min_count": 25}  # 30 mentions: under 3 × min_count, so not 紧急
    config = make_config(tmp_path / "data", sink.port, {"rules": [rule], "quiet_hours": "11:30-12:30"})
    spiky_week(sqlite_store)
    setup = quick(alerts.load(config))
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert a.severity == "预警" and sink.messages() == []
    [held] = alert_store.deliveries(alert_id=a.id)
    assert held.due_at == NOW + timedelta(minutes=30)
    alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=25), setup=setup)
    assert sink.messages() == []
    alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=31), setup=setup)
    assert kinds(sink) == ["firing"]

    urgent = make_config(tmp_path / "data2", sink.port, {"rules": [SPIKE_RULE], "quiet_hours": "11:30-12:30"})
    store2 = type(alert_store)(tmp_path / "alerts2.db")
    try:
        [b] = alerts.check(urgent, sqlite_store, store2, now=NOW, setup=quick(alerts.load(urgent)))
    finally:
        store2.close()
    assert b.severity == "紧急" and len(sink.messages()) == 2  # 紧急 goes through at once


def test_ack_survives_the_next_checks_and_no_reminder_is_sent(tmp_path, sqlite_store, alert_store, sink):
    config = make_config(tmp_path / "data", sink.port, {"rules": [{**SPIKE_RULE, "cooldown": "1h"}]})
    spiky_week(sqlite_store)
    hourly(sqlite_store, NOW + timedelta(hours=1), [40])  # still spiking an hour later
    setup = quick(alerts.load(config))
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    lifecycle.acknowledge(alert_store, a.id, "王经理", "已联系", NOW + timedelta(minutes=5))
    assert alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(hours=1), setup=setup) == []
    record = alert_store.get_alert(a.id)
    assert (record.state, record.acknowledged_by, record.note) == ("acknowledged", "王经理", "已联系")
    assert record.last_seen_at == NOW + timedelta(hours=1)  # the check did see the spike
    assert kinds(sink) == ["firing"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every request, answers `status` (503 while
    `down`), and can hold a request open until released (to kill the sender meanwhile)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[str] = []  # idempotency keys answered 2xx
        self.down = False
        self.hold = threading.Event()
        self.holding = False
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                if receiver.holding:
                    receiver.hold.wait(60)  # hang guard only
                    return
                status = 503 if receiver.down else 200
                if status == 200:
                    receiver.accepted.append(self.headers["Idempotency-Key"])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hook_config(data_dir: Path, url: str, **channel: Any) -> Any:
    return make_config(data_dir, 25, {
        "channels": [{"name": "ops", "type": "webhook", "url": url, **channel}],
        "rules": [SPIKE_RULE]}, env={"HOOK_SECRET": "s3cret"})


def test_channel_down_then_up_delivers_once_signed_with_one_key(tmp_path, sqlite_store, alert_store, receiver):
    config = hook_config(tmp_path / "data", receiver.url, secret_env="HOOK_SECRET")
    spiky_week(sqlite_store)
    setup = quick(alerts.load(config, env={"HOOK_SECRET": "s3cret"}))
    receiver.down = True
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert len(receiver.requests) == 3 and receiver.accepted == []
    alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(seconds=30), setup=setup)
    assert len(receiver.requests) == 3  # backing off: not before a minute has passed
    receiver.down = False
    for minutes in (5, 10, 15):
        alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=minutes), setup=setup)
    key = idempotency_key(a.id, "ops", "firing")
    assert receiver.accepted == [key]
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {key}
    last = receiver.requests[-1]
    ts = last["headers"]["X-Yuqing-Timestamp"]
    expected = hmac.new(b"s3cret", f"{ts}.".encode() + last["body"], hashlib.sha256).hexdigest()
    assert last["headers"]["X-Yuqing-Signature"] == f"sha256={expected}"
    assert json.loads(last["body"])["id"] == a.id


CHILD = """
import json, sys
from datetime import datetime
from pathlib import Path
import alerts
from yuqing.alertstore.sqlite import SqliteAlertStore
from yuqing.config import from_mapping
from yuqing.storage.sqlite import SqliteStore

spec = json.loads(sys.argv[1])
config = from_mapping(spec["config"], "test.yaml", Path(spec["data_dir"]), env={})
db = spec["db"]
alerts.check(config, SqliteStore(db), SqliteAlertStore(db), now=datetime.fromisoformat(spec["now"]))
"""


def test_killed_mid_delivery_then_restarted_loses_nothing_and_repeats_once_with_the_same_key(
        tmp_path, sqlite_store, alert_store, receiver):
    spiky_week(sqlite_store)
    mapping = {"timezone": "Asia/Shanghai", "institutions": [{"name": BANK}],
               "alerts": {"channels": [{"name": "ops", "type": "webhook", "url": receiver.url, "timeout": "60s"}],
                          "rules": [SPIKE_RULE]}}
    spec = {"config": mapping, "data_dir": str(tmp_path / "data"), "db": str(tmp_path / "store.db"),
            "now": NOW.isoformat()}
    receiver.holding = True  # the notice reaches the receiver, which does not answer
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)], cwd=Path(__file__).parent.parent)
    try:
        assert receiver.arrived.wait(300), "the child never sent its notice"  # a hang guard only
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    receiver.holding = False
    receiver.hold.set()

    [record] = alert_store.list_alerts(AlertQuery())
    [pending] = alert_store.deliveries(alert_id=record.id)
    assert pending.state == "pending"  # recorded before sending: nothing lost
    config = make_config(tmp_path / "data", 25, mapping["alerts"])
    assert alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=5),
                        setup=quick(alerts.load(config))) == []  # the same alert, no new notice
    alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=10), setup=quick(alerts.load(config)))
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert keys == [pending.key, pending.key]  # one repeat, same key
    assert receiver.accepted == [pending.key]
    assert [d.state for d in alert_store.deliveries(alert_id=record.id)] == ["delivered"]


def test_slack_message_is_escaped_mrkdwn_and_errors_are_failures(tmp_path, http_server):
    server = http_server([(200, "ok"), (400, "invalid_payload")], path="/services/T0/B0/x")
    config = make_config(tmp_path / "data", 25, {"channels": [{"name": "s", "type": "slack", "webhook": server.url}]})
    ch = alerts.load(config).channels["s"]
    a = evidence(NOW)
    a.mentions = [alerts.AlertMention("<b>催收</b> & 骚扰|投诉", "https://example.org/p/1?a=1&b=2", "weibo",
                                      NOW.isoformat(), 0.9)]
    ch.send(a, "k1")
    got = server.received[0]
    assert got.headers["Idempotency-Key"] == "k1" and got.body["text"] == a.title
    section = got.body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert "<https://example.org/p/1?a=1&amp;b=2|&lt;b&gt;催收&lt;/b&gt; &amp; 骚扰｜投诉>" in section["text"]
    with pytest.raises(DeliveryError, match="HTTP 400"):
        ch.send(a, "k2")


# -- the commands ------------------------------------------------------------------------------

def test_alerts_commands_and_the_list_json_contract(tmp_path, receiver):
    from yuqing.alertstore.sqlite import SqliteAlertStore
    from yuqing.storage.sqlite import SqliteStore

    data = tmp_path / "data"
    data.mkdir()
    (data / "yuqing.yaml").write_text(yaml.safe_dump({
        "timezone": "Asia/Shanghai", "institutions": [{"name": BANK}],
        "alerts": {"channels": [{"name": "ops", "type": "webhook", "url": receiver.url}], "rules": [SPIKE_RULE]},
    }, allow_unicode=True), encoding="utf-8")
    now = datetime.now(NOW.tzinfo).replace(microsecond=0)
    store = SqliteStore(data / "yuqing.db")
    spiky_week(store, end=now)
    store.close()

    dry = yq(data, "check", "--dry-run").stdout
    assert "would send to ops" in dry and BANK in dry and receiver.requests == []
    assert "1 notice(s)" in yq(data, "check").stdout
    assert len(receiver.accepted) == 1

    listed = json.loads(yq(data, "alerts", "list", "--json").stdout)
    [item] = listed["alerts"]
    assert list(item) == ["id", "institution", "rule", "severity", "state", "started_at", "updated_at",
                          "acknowledged_by", "note", "source"]  # the contract's keys, then `source` (added)
    assert item["source"] is None
    assert (item["institution"], item["rule"], item["state"], item["acknowledged_by"]) == (BANK, "neg", "firing", None)
    assert item["severity"] in ("关注", "预警", "紧急") and datetime.fromisoformat(item["started_at"]).utcoffset()

    assert yq(data, "alerts", "ack", item["id"], "--by", "王经理", "--note", "已联系客服").returncode == 0
    [acked] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
    assert (acked["state"], acked["acknowledged_by"], acked["note"]) == ("acknowledged", "王经理", "已联系客服")
    shown = yq(data, "alerts", "show", item["id"]).stdout
    assert "acknowledged by 王经理" in shown and "firing" in shown and "delivered" in shown

    # later checks while it keeps firing, well past the cooldown: no further notice
    alert_store = SqliteAlertStore(data / "yuqing.db")
    try:
        config = make_config(data, 25, {"channels": [{"name": "ops", "type": "webhook", "url": receiver.url}],
                                        "rules": [SPIKE_RULE]})
        store = SqliteStore(data / "yuqing.db")
        later = now + timedelta(hours=7)
        hourly(store, later, [40])
        assert alerts.check(config, store, alert_store, now=later, setup=quick(alerts.load(config))) == []
        store.close()
        assert alert_store.get_alert(item["id"]).state == "acknowledged"
    finally:
        alert_store.close()
    assert len(receiver.accepted) == 1

    out = yq(data, "alerts", "silence", "--institution", BANK, "--for", "2h", "--by", "李四", "--why", "演练").stdout
    silence_id = out.split()[1]
    assert silence_id in yq(data, "alerts", "list", "--silences").stdout
    assert "ended" in yq(data, "alerts", "unsilence", silence_id).stdout
    assert yq(data, "alerts", "unsilence", silence_id, check=False).returncode == 2

    assert "resolved; 1 notice(s)" in yq(data, "alerts", "resolve", item["id"], "--by", "王经理").stdout
    assert json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"] == []
    [done] = json.loads(yq(data, "alerts", "list", "--state", "all", "--json").stdout)["alerts"]
    assert done["state"] == "resolved"
    assert len(receiver.accepted) == 2  # the resolved notice
    bad = yq(data, "alerts", "ack", "nope", "--by", "x", check=False)
    assert bad.returncode == 2 and "no alert 'nope'" in bad.stderr

    assert "test notice delivered to ops" in yq(data, "alerts", "test", "ops").stdout
    assert json.loads(receiver.requests[-1]["body"])["notice"] == "test"
    receiver.down = True
    failed = yq(data, "alerts", "test", "ops", check=False)
    assert failed.returncode == 1 and "HTTP 503" in failed.stderr
    assert yq(data, "alerts", "test", "pager", check=False).returncode == 2


def test_reposts_are_quoted_once_with_their_count(tmp_path, sqlite_store, alert_store, sink):
    from test_alerts_support import mention

    from alerts import render

    config = make_config(tmp_path / "data", sink.port, {"rules": [SPIKE_RULE]})
    spiky_week(sqlite_store)
    original = mention(NOW - timedelta(minutes=30), risk=0.99)
    reposts = [dataclasses.replace(mention(NOW - timedelta(minutes=20 - i), risk=0.98), id="",  # id from its URL
                                   repost_of=original.id)
               for i in range(5)]
    sqlite_store.index_many([original, *reposts])
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=quick(alerts.load(config)))
    assert a.mentions[0].url == original.url and a.mentions[0].reposts == 5
    assert not {r.url for r in reposts} & {m.url for m in a.mentions}
    assert "另有 5 条转发" in render.text(a)


@pytest.mark.elasticsearch
def test_alert_commands_on_elasticsearch(tmp_path, receiver):
    """The same lifecycle with the alert state in the cluster's alert index, chosen by config alone."""
    import uuid

    from conftest import SHANGHAI, es_url

    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    data = tmp_path / "data"
    data.mkdir()
    prefix = f"test-alerts-{uuid.uuid4().hex[:8]}"
    (data / "yuqing.yaml").write_text(yaml.safe_dump({
        "timezone": "Asia/Shanghai", "institutions": [{"name": BANK}],
        "store": {"backend": "elasticsearch", "elasticsearch": {"url": es_url(), "index_prefix": prefix}},
        "alerts": {"channels": [{"name": "ops", "type": "webhook", "url": receiver.url}], "rules": [SPIKE_RULE]},
    }, allow_unicode=True), encoding="utf-8")
    cfg = ElasticsearchConfig(url=es_url(), index_prefix=prefix)
    store = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
    try:
        assert f"created index template {prefix}-alerts-v1" in yq(data, "index", "setup").stdout
        spiky_week(store, end=datetime.now(NOW.tzinfo).replace(microsecond=0))
        assert "1 notice(s)" in yq(data, "check").stdout
        [item] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
        assert yq(data, "alerts", "ack", item["id"], "--by", "王经理").returncode == 0
        [acked] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
        assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "王经理")
        assert len(receiver.accepted) == 1
    finally:
        store.drop()
        store.close()
        alert_store = ElasticsearchAlertStore(cfg)
        alert_store.drop()
        alert_store.close()


# -- end to end --------------------------------------------------------------------------------

def test_a_growing_burst_escalates_reminds_with_back_off_and_resolves(tmp_path, sqlite_store, alert_store, sink,
                                                                      receiver):
    """Hourly checks on a real SQLite store while a burst of negative mentions grows, delivered to
    the MailSink (SMTP) and a webhook on loopback: 关注 → 预警 → 紧急 as it grows; reminders back
    off (1 h, then 2 h); an acknowledgement stops them until the severity rises; one resolved
    notice when it has been over for `resolve_after`. Every notice of the incident is one alert id
    with its own idempotency key, the same on both channels' sides."""
    rule = {"name": "neg", "type": "spike", "institution": BANK, "history": "7d", "min_count": 5,
            "threshold": 0.9, "cooldown": "1h", "max_cooldown": "4h", "resolve_after": "2h"}
    config = make_config(tmp_path / "data", sink.port, {
        "channels": [{"name": "mail", "type": "email", "to": ["crisis@example.com"]},
                     {"name": "ops", "type": "webhook", "url": receiver.url}], "rules": [rule]})
    setup = quick(alerts.load(config))
    hourly(sqlite_store, NOW, background(7 * 24, seed=1, low=1, high=4))
    # negatives per hour after a quiet week of 1-4: the burst grows, holds, peaks and ends
    counts = [9, 9, 9, 9, 12, 12, 12, 12, 25, 40, 60, 3, 2, 2]
    acks = {0: "值班员", 5: "王经理"}  # acknowledged right after these checks
    seen: list[tuple[int, str, str]] = []
    for hour, count in enumerate(counts):
        now = NOW + timedelta(hours=hour + 1)
        hourly(sqlite_store, now, [count])
        for notice in alerts.check(config, sqlite_store, alert_store, now=now, setup=setup):
            seen.append((hour, notice.notice, notice.severity))
        if hour in acks:
            [open_alert] = alert_store.list_alerts(AlertQuery(institution=BANK, states=("firing",)))
            lifecycle.acknowledge(alert_store, open_alert.id, acks[hour], "在处理", now)
    assert seen == [
        (0, "firing", "关注"),  # then acknowledged: no reminder at hour 1 though it still holds
        (2, "escalated", "预警"),  # the acknowledgement was for a smaller problem
        (4, "repeat", "预警"),  # 1 h after the escalation the rule paused (hour 3); the next holding check
        # acknowledged after hour 5: the reminder due at hour 6 (2 h later: backing off) is not sent
        (8, "escalated", "紧急"),
        (9, "repeat", "紧急"),  # 1 h: the back-off starts again for the new severity
        (12, "resolved", "紧急"),  # last held at hour 10; over for resolve_after (2 h)
    ]
    [record] = alert_store.list_alerts(AlertQuery(institution=BANK, states=("resolved",)))
    assert (record.severity, record.acknowledged_by, record.resolved_at) == ("紧急", "", NOW + timedelta(hours=13))
    assert record.started_at == NOW + timedelta(hours=1) and record.note == "在处理"

    mails = [email.message_from_bytes(p.read_bytes()) for p in sink.messages()]
    hooks = [json.loads(r["body"]) for r in receiver.requests]
    expected = [kind for _, kind, _ in seen]
    assert all(d.state == "delivered" for d in alert_store.deliveries(alert_id=record.id))
    # one delivery per notice and channel: the reminder after the escalation to 紧急 is not taken
    # for the repeat of the same number at 预警 (their kinds, and so their keys, differ)
    assert sorted(d.kind for d in alert_store.deliveries(alert_id=record.id) if d.channel == "mail") == sorted([
        "firing", "escalated-预警", "repeat-预警-2", "escalated-紧急", "repeat-紧急-2", "resolved"])
    assert [m["X-Yuqing-Notice"] for m in mails] == expected == [h["notice"] for h in hooks]
    assert [h["severity"] for h in hooks] == [severity for _, _, severity in seen]
    assert {m["X-Yuqing-Alert-Id"] for m in mails} == {h["id"] for h in hooks} == {record.id}
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert len(set(keys)) == len(keys) == len(receiver.accepted)
    assert len({m["Message-ID"] for m in mails}) == len(mails)
    assert hooks[3]["title"].startswith("【升级为紧急】") and hooks[2]["title"].startswith("【预警·持续】")
    assert hooks[-1]["title"].startswith("【已恢复】")
