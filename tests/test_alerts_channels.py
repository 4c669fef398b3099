"""Robot and webhook channels against a real HTTP server on 127.0.0.1: request bodies, DingTalk and
Feishu signatures, error answers, and retry/spool through a check."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    NOW,
    alert_store_fixture,
    background,
    hourly,
    http_server_fixture,
    make_config,
    sqlite_store_fixture,
)

import alerts
from alerts.channels import DeliveryError
from yuqing.alertstore.model import Alert, AlertMention

SECRET = "SECtest-secret-123"


def sample_alert(mentions: int = 3) -> Alert:
    return Alert(rule="neg", institution=BANK, polarity="negative", bucket_start=NOW - timedelta(hours=1),
                 bucket_end=NOW, count=31, baseline=1.5, score=0.999, created_at=NOW,
                 mentions=[AlertMention(f"催收投诉{i}", f"https://example.org/p/{i}", "weibo", NOW.isoformat(), 0.9,
                                        ["暴力催收"]) for i in range(mentions)],
                 categories=[("暴力催收", 30)], keywords=["催收", "骚扰"])


def channel(tmp_path, spec, env=None):
    config = make_config(tmp_path / "data", 25, {"channels": [spec]}, env=env)
    return alerts.load(config, env=env or {}).channels[spec["name"]]


def test_wecom_markdown(tmp_path, http_server):
    server = http_server([(200, {"errcode": 0, "errmsg": "ok"})], path="/cgi-bin/webhook/send")
    ch = channel(tmp_path, {"name": "w", "type": "wecom", "webhook": server.url + "?key=abc"})
    ch.send(sample_alert(), "key-1")
    [got] = server.received
    assert got.query == {"key": ["abc"]} and got.body["msgtype"] == "markdown"
    content = got.body["markdown"]["content"]
    assert BANK in content and "[催收投诉0](https://example.org/p/0)" in content and "31" in content


def test_wecom_markdown_is_cut_to_the_size_limit(tmp_path, http_server):
    server = http_server([(200, {"errcode": 0})])
    ch = channel(tmp_path, {"name": "w", "type": "wecom", "webhook": server.url})
    ch.send(sample_alert(mentions=200), "key-1")
    content = server.received[0].body["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and BANK in content and "催收投诉0" in content


def test_dingtalk_signed_request(tmp_path, http_server):
    server = http_server([(200, {"errcode": 0, "errmsg": "ok"})], path="/robot/send")
    env = {"DT_SECRET": SECRET}
    ch = channel(tmp_path, {"name": "d", "type": "dingtalk", "webhook": server.url + "?access_token=tok",
                            "secret_env": "DT_SECRET"}, env=env)
    before = int(time.time() * 1000)
    ch.send(sample_alert(), "key-1")
    after = int(time.time() * 1000)
    [got] = server.received
    ts = got.query["timestamp"][0]
    # signed while it was sent (bracketed, not "within a minute of now": that measures the machine)
    assert before <= int(ts) <= after and got.query["access_token"] == ["tok"]
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest())
    assert got.query["sign"] == [expected.decode()]  # parse_qs has undone the URL encoding
    assert got.body["msgtype"] == "markdown" and BANK in got.body["markdown"]["title"]
    assert "https://example.org/p/2" in got.body["markdown"]["text"]


def test_feishu_signed_post_message(tmp_path, http_server):
    server = http_server([(200, {"code": 0, "msg": "success"})])
    ch = channel(tmp_path, {"name": "f", "type": "feishu", "webhook": server.url, "secret_env": "FS"},
                 env={"FS": SECRET})
    ch.send(sample_alert(), "key-1")
    body = server.received[0].body
    expected = base64.b64encode(hmac.new(f"{body['timestamp']}\n{SECRET}".encode(), b"", hashlib.sha256).digest())
    assert body["sign"] == expected.decode() and body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    links = [el["href"] for line in post["content"] for el in line if el["tag"] == "a"]
    assert BANK in post["title"] and links == [f"https://example.org/p/{i}" for i in range(3)]


def test_generic_webhook_sends_the_alert_and_headers(tmp_path, http_server):
    server = http_server([(204, "")])
    ch = channel(tmp_path, {"name": "ops", "type": "webhook", "url": server.url,
                            "headers": {"Authorization": "Bearer t0k"}})
    a = sample_alert()
    ch.send(a, "key-1")
    got = server.received[0]
    assert got.headers["Authorization"] == "Bearer t0k"
    assert got.body["id"] == a.id and got.body["count"] == 31 and got.body["mentions"][0]["url"] == a.mentions[0].url


@pytest.mark.parametrize("spec, answer, words", [
    ({"type": "wecom"}, (200, {"errcode": 93000, "errmsg": "invalid webhook url"}), "errcode 93000"),
    ({"type": "dingtalk"}, (200, {"errcode": 310000, "errmsg": "sign not match"}), "sign not match"),
    ({"type": "feishu"}, (200, {"code": 19021, "msg": "sign match fail"}), "code 19021"),
    ({"type": "webhook"}, (503, {"error": "busy"}), "HTTP 503"),
])
def test_error_answers_are_failures(tmp_path, http_server, spec, answer, words):
    server = http_server([answer])
    key = "url" if spec["type"] == "webhook" else "webhook"
    ch = channel(tmp_path, {"name": "c", **spec, key: server.url + "?key=secret-key"})
    with pytest.raises(DeliveryError) as info:
        ch.send(sample_alert(), "key-1")
    assert words in str(info.value) and "'c'" in str(info.value)
    assert "secret-key" not in str(info.value)  # robot keys stay out of logs


def test_webhook_500_is_retried_then_spooled_then_delivered(tmp_path, sqlite_store, http_server, alert_store):
    server = http_server([(500, {"error": "down"})] * 4 + [(200, {"errcode": 0})])
    config = make_config(tmp_path / "data", 25, {
        "channels": [{"name": "wecom", "type": "wecom", "webhook": server.url}],
        "rules": [{"name": "neg", "type": "spike", "institution": BANK}]})
    hourly(sqlite_store, NOW, background(7 * 24, seed=3) + [25])
    setup = dataclasses.replace(alerts.load(config), retry_delays=(0.0, 0.0))

    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert len(server.received) == 3  # one try and two retries
    [pending] = alert_store.deliveries(pending_due=NOW + timedelta(hours=1))
    assert "HTTP 500" in pending.last_error

    assert alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=10), setup=setup) == []
    assert len(server.received) == 5  # failed once more, then went through
    assert alert_store.count_pending() == 0
    assert {r.headers["Idempotency-Key"] for r in server.received} == {pending.key}
    assert {r.body["markdown"]["content"] for r in server.received} == {server.received[0].body["markdown"]["content"]}
    assert a.institution in server.received[-1].body["markdown"]["content"]


def test_webhook_timeout_is_a_delivery_error(tmp_path):
    import socket

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        ch = channel(tmp_path, {"name": "slow", "type": "webhook", "url": url, "timeout": "1s"})
        # The configured timeout reaches the socket and its expiry is the error; how long that took
        # is the machine's business (a duration bound would fail on a loaded machine).
        assert ch.timeout == 1
        with pytest.raises(DeliveryError, match="slow.*timed out"):
            ch.send(sample_alert(), "key-1")
