"""The silence and new_term rule types, whole checks on a real SQLite file and the MailSink: a
source gone quiet or walled off (a real health file) fires `silence` and resolves when mentions
return; a rare term suddenly frequent fires `new_term`; start-up errors name the key."""
from __future__ import annotations

import dataclasses
import email
import json
from datetime import timedelta

import pytest
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    NOW,
    alert_store_fixture,
    make_config,
    mention,
    sink_fixture,
    sqlite_store_fixture,
)

import alerts
from yuqing.config import ConfigError, from_mapping
from yuqing.datadir import DataDir, HealthRecord

SOURCES = [{"name": "weibo", "type": "rss", "params": {"url": "https://example.org/feed.xml"}}]


def config_with(tmp_path, port, rule):
    config = make_config(tmp_path / "data", port, {"rules": [rule]})
    data = {"timezone": "Asia/Shanghai", "institutions": [{"name": BANK}], "sources": SOURCES}
    return dataclasses.replace(config, sources=from_mapping(data, "test.yaml", tmp_path / "data", env={}).sources)


def every_hour(store, hours: int, end=NOW, **kwargs) -> None:
    store.index_many([mention(end - timedelta(hours=h, minutes=30), **kwargs) for h in range(hours)])


def kinds(sink) -> list[str]:
    return [email.message_from_bytes(p.read_bytes())["X-Yuqing-Notice"] for p in sink.messages()]


def quick(setup):
    return dataclasses.replace(setup, retry_delays=(0.0, 0.0))


def test_a_source_gone_quiet_fires_silence_and_resolves_when_mentions_return(tmp_path, sqlite_store, alert_store,
                                                                            sink):
    config = config_with(tmp_path, sink.port, {"name": "quiet", "type": "silence"})
    setup = quick(alerts.load(config))
    every_hour(sqlite_store, 48, end=NOW - timedelta(hours=5))  # hourly for two days, then nothing for 5 h
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert (a.rule, a.institution, a.severity, a.notice) == ("quiet", "weibo", "预警", "firing")
    every_hour(sqlite_store, 2, end=NOW + timedelta(hours=1))
    [r] = alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(hours=1), setup=setup)
    assert (r.id, r.notice) == (a.id, "resolved")
    assert kinds(sink) == ["firing", "resolved"]


def test_a_login_required_health_record_fires_silence(tmp_path, sqlite_store, alert_store, sink):
    config = config_with(tmp_path, sink.port, {"name": "quiet", "type": "silence", "default_gap": "2h"})
    setup = quick(alerts.load(config))
    every_hour(sqlite_store, 48)  # mentions right up to now: only the health says something is wrong
    assert alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup) == []
    DataDir(config.data_dir).health_file("weibo").parent.mkdir(parents=True, exist_ok=True)
    record = HealthRecord("weibo", state="login-required", state_reason="cookie expired",
                          finished_at=(NOW - timedelta(hours=3)).isoformat())
    DataDir(config.data_dir).health_file("weibo").write_text(json.dumps(record.to_dict()))
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=1), setup=setup)
    assert (a.institution, a.notice) == ("weibo", "firing")


def test_a_new_term_burst_fires_new_term(tmp_path, sqlite_store, alert_store, sink):
    config = config_with(tmp_path, sink.port, {"name": "terms", "type": "new_term", "institution": BANK})
    setup = quick(alerts.load(config))
    old = [mention(NOW - timedelta(days=1, minutes=m)) for m in range(200)]
    for m in old:
        m.keywords = ["催收", "客服"]
    new = [mention(NOW - timedelta(minutes=5 + m)) for m in range(20)]
    for m in new:
        m.keywords = ["金葵花理财", "暴雷"]
    sqlite_store.index_many(old + new)
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert a.rule == "terms" and set(a.keywords[:2]) == {"金葵花理财", "暴雷"} and a.count == 20
    assert a.severity == "紧急"  # 20 mentions of a never-seen term: rare beyond 0.99 and ≥ 3 × min_count


def test_rule_options_are_validated_naming_the_key(tmp_path, sink):
    with pytest.raises(ConfigError, match=r"alerts\.rules\[0\]\.source.*'tieba' is not a configured source"):
        alerts.load(config_with(tmp_path, sink.port, {"name": "q", "type": "silence", "source": "tieba"}))
    with pytest.raises(ConfigError, match=r"alerts\.rules\[0\]\.history.*longer than window"):
        alerts.load(config_with(tmp_path, sink.port, {"name": "t", "type": "new_term", "window": "2d",
                                                      "history": "1d"}))
    with pytest.raises(ConfigError, match=r"alerts\.rules\[0\]"):
        alerts.load(config_with(tmp_path, sink.port, {"name": "s", "type": "spike", "warn_ratio": 3}))
