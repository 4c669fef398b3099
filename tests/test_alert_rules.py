"""The silence, share and new_term rule types, whole checks on a real SQLite file and the MailSink:
a source gone quiet or walled off (a real health file) fires `silence` (an alert about the source,
not an institution, in every view) and resolves when mentions return; a turn in the negative share
fires `share`, counting what a handful of posts can say; a rare term suddenly frequent fires
`new_term`; start-up errors name the key."""
from __future__ import annotations

import dataclasses
import email
import json
from datetime import timedelta

import pytest
import yaml
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    NOW,
    alert_store_fixture,
    hourly,
    make_config,
    mention,
    sink_fixture,
    sqlite_store_fixture,
)
from test_cli import yq

import alerts
from alerts import render
from yuqing.alertstore.model import AlertQuery
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
    assert (a.rule, a.institution, a.source, a.kind, a.severity, a.notice) == ("quiet", "", "weibo", "silence",
                                                                              "预警", "firing")
    assert a.title.startswith("【预警】来源 weibo 自 03-10 06:30 起无新内容") and "请检查采集" in a.title
    assert "来源：weibo" in render.text(a) and "舆情激增" not in render.text(a)
    [record] = alert_store.list_alerts(AlertQuery(source="weibo"))
    assert record.public()["institution"] is None and record.public()["source"] == "weibo"
    assert alert_store.list_alerts(AlertQuery(institution="weibo")) == []
    every_hour(sqlite_store, 2, end=NOW + timedelta(hours=1))
    [r] = alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(hours=1), setup=setup)
    assert (r.id, r.notice) == (a.id, "resolved") and r.title == "【已恢复】来源 weibo 已恢复采集"
    assert kinds(sink) == ["firing", "resolved"]


def test_silence_alerts_show_their_source_in_list_show_and_json(tmp_path):
    """The commands: `alerts list` names the source (not as an institution), `--source` selects
    it, `--json` keeps the contract keys (institution null) and adds `source`; a silence of the
    source mutes it, a silence of an institution does not."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "yuqing.yaml").write_text(yaml.safe_dump({
        "timezone": "Asia/Shanghai", "institutions": [{"name": BANK}], "sources": SOURCES,
        "alerts": {"channels": [], "rules": [{"name": "quiet", "type": "silence"}]},
    }, allow_unicode=True), encoding="utf-8")
    from datetime import datetime

    from yuqing.storage.sqlite import SqliteStore

    now = datetime.now(NOW.tzinfo).replace(microsecond=0)
    store = SqliteStore(data / "yuqing.db")
    every_hour(store, 48, end=now - timedelta(hours=5))
    store.close()
    assert "1 notice(s)" in yq(data, "check").stdout

    [item] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
    assert list(item)[:9] == ["id", "institution", "rule", "severity", "state", "started_at", "updated_at",
                              "acknowledged_by", "note"]
    assert (item["institution"], item["source"], item["rule"], item["state"]) == (None, "weibo", "quiet", "firing")
    listed = yq(data, "alerts", "list").stdout
    assert " source weibo [quiet] 预警 firing: no mentions since" in listed
    assert json.loads(yq(data, "alerts", "list", "--source", "weibo", "--json").stdout)["alerts"] == [item]
    assert json.loads(yq(data, "alerts", "list", "--institution", "weibo", "--json").stdout)["alerts"] == []
    shown = yq(data, "alerts", "show", item["id"]).stdout
    assert "来源 weibo" in shown and "来源：weibo" in shown and "usual gap" in shown
    assert json.loads(yq(data, "alerts", "show", item["id"], "--json").stdout)["source"] == "weibo"

    yq(data, "alerts", "silence", "--institution", BANK, "--for", "2h", "--by", "李四", "--why", "演练")
    yq(data, "check")
    [still] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
    assert still["state"] == "firing"
    out = yq(data, "alerts", "silence", "--source", "weibo", "--for", "2h", "--by", "李四", "--why", "改版中").stdout
    assert "source=weibo" in yq(data, "alerts", "list", "--silences").stdout and out.startswith("silence ")
    yq(data, "check")
    [muted] = json.loads(yq(data, "alerts", "list", "--json").stdout)["alerts"]
    assert muted["state"] == "silenced"


SHARE_RULE = {"name": "tone", "type": "share", "institution": BANK, "min_count": 5}


def share_week(store, end, negative_share_now: float, total_now: int) -> None:
    """A week of hourly mentions of BANK, 40 an hour of which a quarter negative, then one hour
    with `total_now` mentions of which `negative_share_now` negative."""
    hours = 7 * 24
    hourly(store, end - timedelta(hours=1), [30] * hours, polarity="neutral")
    hourly(store, end - timedelta(hours=1), [10] * hours, polarity="negative")
    negatives = round(total_now * negative_share_now)
    hourly(store, end, [total_now - negatives], polarity="neutral")
    hourly(store, end, [negatives], polarity="negative")


def test_a_turn_in_the_negative_share_fires_share(tmp_path, sqlite_store, alert_store, sink):
    """As many posts as usual, but most of them negative: the volume rule sees little, the share
    rule fires (and says count of total against the usual share)."""
    config = make_config(tmp_path / "data", sink.port, {"rules": [SHARE_RULE]})
    setup = quick(alerts.load(config))
    share_week(sqlite_store, NOW, 0.75, 40)
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup)
    assert (a.rule, a.institution, a.kind, a.count, a.total, a.notice) == ("tone", BANK, "share", 30, 40, "firing")
    assert a.usual_share == pytest.approx(0.25, abs=0.02) and a.score >= 0.99
    assert a.severity == "紧急"  # 30 negatives: ≥ 3 × min_count, and far beyond once in 40 years
    assert a.title.startswith(f"【紧急】{BANK} 负面占比升高：30/40 条（通常约 25%）")
    assert "负面：30/40 条" in render.text(a) and all(m.url for m in a.mentions)
    assert kinds(sink) == ["firing"]


def test_share_is_count_aware(tmp_path, sqlite_store, alert_store, sink):
    """4 negatives of 5 posts: a share of 80 %, but a handful of posts says little; and fewer
    than min_count negatives never alert."""
    config = make_config(tmp_path / "data", sink.port, {"rules": [{**SHARE_RULE, "min_count": 1}]})
    setup = quick(alerts.load(config))
    share_week(sqlite_store, NOW, 0.8, 5)
    assert alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup) == []
    strict = make_config(tmp_path / "data", sink.port, {"rules": [{**SHARE_RULE, "min_count": 50}]})
    assert alerts.check(strict, sqlite_store, alert_store, now=NOW, setup=quick(alerts.load(strict))) == []
    assert sink.messages() == []


def test_share_options_are_validated_naming_the_key(tmp_path, sink):
    for options, key, words in [({"history": "2h"}, "history", "at least 4 buckets"),
                                ({"min_count": 0}, "min_count", "from 1 to"),
                                ({"threshold": 1.5}, "threshold", "from 0 to 1"),
                                ({"polarity": "negative"}, "polarity", "unknown key")]:
        with pytest.raises(ConfigError) as info:
            alerts.load(make_config(tmp_path / "data", sink.port, {"rules": [{**SHARE_RULE, **options}]}))
        assert info.value.key == f"alerts.rules[0].{key}" and words in info.value.problem


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
    assert (a.institution, a.source, a.notice) == ("", "weibo", "firing")


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
