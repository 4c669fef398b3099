"""The saved_search rule type: a search kept as an alert, whole checks on a real SQLite file and the
MailSink — new mentions matching the query fire it through the lifecycle, it reminds and resolves
as the other rules do, and its options are checked at start-up naming the key."""
from __future__ import annotations

from datetime import timedelta

import pytest
from test_alert_rules import config_with, kinds, quick
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    BANK,
    COMPLAINTS,
    NOW,
    alert_store_fixture,
    mention,
    sink_fixture,
    sqlite_store_fixture,
)

import alerts
from yuqing.alertstore.model import AlertQuery
from yuqing.config import ConfigError

RULE = {"name": "watch", "type": "saved_search", "query": "", "institution": BANK, "window": "1h",
        "history": "2d", "min_count": 2, "severity": "预警", "resolve_after": "1h"}


def test_matching_mentions_fire_the_saved_search_and_it_resolves_when_they_stop(tmp_path, sqlite_store, alert_store,
                                                                               sink):
    word = COMPLAINTS[0][:2]
    rule = {**RULE, "query": word}
    config = config_with(tmp_path, sink.port, rule)
    setup = quick(alerts.load(config))
    others = [m for m in (mention(NOW - timedelta(minutes=10 + i), kind=k) for i, k in enumerate((1, 2, 3)))
              if word not in m.text]
    sqlite_store.index_many([mention(NOW - timedelta(hours=20)), *others])  # one match the day before
    assert alerts.check(config, sqlite_store, alert_store, now=NOW, setup=setup) == []  # no match in the window
    sqlite_store.index_many([mention(NOW - timedelta(minutes=m)) for m in (5, 15, 25)])
    [a] = alerts.check(config, sqlite_store, alert_store, now=NOW + timedelta(minutes=1), setup=setup)
    assert (a.rule, a.institution, a.count, a.severity, a.notice) == ("watch", BANK, 3, "预警", "firing")
    assert a.keywords[0] == word and a.score == 0.0
    assert a.baseline == round(1 / 47, 2)  # one match in the 47 h of history before the window
    assert kinds(sink) == ["firing"]
    # the matches stop: after resolve_after the alert resolves and says so
    later = NOW + timedelta(hours=3)
    [done] = alerts.check(config, sqlite_store, alert_store, now=later, setup=setup)
    assert done.notice == "resolved"
    [record] = alert_store.list_alerts(AlertQuery(states=("resolved",)))
    assert record.rule == "watch" and kinds(sink) == ["firing", "resolved"]


@pytest.mark.parametrize("change, message", [
    ({"query": ""}, r"alerts\.rules\[0\]\.query.*must not be empty"),
    ({"query": "(催收"}, r"alerts\.rules\[0\]\.query"),
    ({"query": "-催收"}, r"alerts\.rules\[0\]\.query.*at least one term"),
    ({"query": "催收", "severity": "大"}, r"alerts\.rules\[0\]\.severity.*'大'"),
    ({"query": "催收", "source": "tieba"}, r"alerts\.rules\[0\]\.source.*'tieba' is not a configured source"),
    ({"query": "催收", "window": "3d"}, r"alerts\.rules\[0\]\.history.*longer than window"),
    ({"query": "催收", "polarity": "angry"}, r"alerts\.rules\[0\]\.polarity.*'angry'"),
])
def test_saved_search_options_are_checked_naming_the_key(tmp_path, sink, change, message):
    with pytest.raises(ConfigError, match=message):
        alerts.load(config_with(tmp_path, sink.port, {**RULE, **change}))
