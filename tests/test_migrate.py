"""`yuqing migrate --to elasticsearch`, as a user runs it, from a real SQLite data dir into the real
node: a whole copy with the alert state, a `kill -9` in the middle then a resume, and the final
count check saying what differs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta

import pytest

from tests.conftest import SHANGHAI, es_url
from tests.test_cli import yq
from tests.test_dataops import alert_quoting
from yuqing.alertstore.model import Delivery, Silence
from yuqing.config import ElasticsearchConfig
from yuqing.model import Mention

pytestmark = pytest.mark.elasticsearch
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)


def corpus(n: int) -> list[Mention]:
    return [Mention(url=f"https://example.org/migrate/{i}", source=("weibo", "news", "guba")[i % 3],
                    title=f"迁移测试 {i}", content="客户投诉信用卡暴力催收。" if i % 2 else "网点服务很好。",
                    published_at=T0 + timedelta(hours=7 * i), polarity="negative" if i % 2 else "positive",
                    institutions=["招商银行"], risk=0.5) for i in range(n)]


@pytest.fixture
def migration(tmp_path):
    """A data dir with an embedded store (mentions and alert state) and a config naming a fresh
    prefix on the real node; yields (data dir, target config); the target is dropped afterwards."""
    from yuqing.alertstore.sqlite import SqliteAlertStore
    from yuqing.storage.sqlite import SqliteStore

    data = tmp_path / "data"
    data.mkdir()
    cfg = ElasticsearchConfig(url=es_url(), index_prefix=f"test-migrate-{uuid.uuid4().hex[:8]}")
    (data / "yuqing.yaml").write_text(
        f"store:\n  elasticsearch: {{url: '{cfg.url}', index_prefix: {cfg.index_prefix}}}\n", encoding="utf-8")
    store = SqliteStore(data / "yuqing.db", tz=SHANGHAI)
    mentions = corpus(1200)
    assert store.index_many(mentions).created == len(mentions)
    store.close()
    alerts = SqliteAlertStore(data / "yuqing.db")
    record = alerts.put_alert(alert_quoting(mentions[0]))
    alerts.put_alert(record)  # version 2: the copy must keep it
    alerts.add_delivery(Delivery(key="k1", alert_id=record.id, channel="email", kind="firing", state="delivered",
                                 notice=record.latest, due_at=T0, created_at=T0))
    alerts.put_rule_state("negative-spike", "招商银行", {"last_bucket": "2026-01-05T09:00:00+08:00"})
    alerts.put_silence(Silence(id="s1", created_at=T0, until=T0 + timedelta(days=3650), created_by="ops",
                               reason="测试"))
    alerts.close()
    yield data, cfg
    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
    from yuqing.storage.elasticsearch import ElasticsearchStore

    for target in (ElasticsearchStore(cfg, tz=SHANGHAI), ElasticsearchAlertStore(cfg)):
        target.drop()
        target.close()


def target_state(cfg):
    from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore
    from yuqing.storage.elasticsearch import ElasticsearchStore

    store, alerts = ElasticsearchStore(cfg, tz=SHANGHAI), ElasticsearchAlertStore(cfg)
    try:
        ids = {m.id for batch in store.scan() for m in batch}
        return store.count(), ids, alerts.get_alert("a-old"), alerts.deliveries("a-old"), \
            alerts.get_rule_state("negative-spike", "招商银行"), [s.id for s in alerts.silences()]
    finally:
        store.close()
        alerts.close()


def test_migrate_copies_mentions_and_alert_state_and_again_changes_nothing(migration):
    data, cfg = migration
    proc = yq(data, "migrate", "--to", "elasticsearch", "--batch", "500")
    assert f"created index template {cfg.index_prefix}-mentions-v1" in proc.stdout
    assert "migrated 1200 mention(s)" in proc.stdout
    assert "alert state: 1 alerts, 1 notices, 1 rule states, 1 silences" in proc.stdout
    assert "1200 in the embedded store, 1200 in Elasticsearch: counts agree" in proc.stdout
    assert proc.stderr == ""
    count, ids, alert, deliveries, rule_state, silences = target_state(cfg)
    assert count == 1200 and ids == {m.id for m in corpus(1200)}
    assert alert.version == 2 and alert.latest.mentions[0].title == "迁移测试 0"
    assert [d.key for d in deliveries] == ["k1"] and rule_state["last_bucket"].startswith("2026-01-05")
    assert silences == ["s1"]
    assert not (data / "migrate-elasticsearch.json").exists()  # done: no checkpoint left
    again = yq(data, "migrate", "--to", "elasticsearch")
    assert "counts agree" in again.stdout and target_state(cfg)[0] == 1200
    # the copy is usable as the store: the same search answers on both
    sqlite_hits = json.loads(yq(data, "search", "催收", "--json", "--limit", "5").stdout)
    (data / "yuqing.yaml").write_text(f"store:\n  backend: elasticsearch\n  elasticsearch: {{url: '{cfg.url}', "
                                      f"index_prefix: {cfg.index_prefix}}}\n", encoding="utf-8")
    es_hits = json.loads(yq(data, "search", "催收", "--json", "--limit", "5").stdout)
    assert es_hits["total"] == sqlite_hits["total"] == 600
    assert json.loads(yq(data, "alerts", "list", "--state", "all", "--json").stdout)["alerts"][0]["id"] == "a-old"


def test_migrate_killed_mid_way_resumes_without_duplicates(migration):
    data, cfg = migration
    checkpoint = data / "migrate-elasticsearch.json"
    env = dict(os.environ, YUQING_DATA_DIR=str(data))
    env.pop("YUQING_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "migrate", "--to", "elasticsearch", "--batch", "50"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGSTOP)  # frozen where it is: what follows cannot race it
    try:
        state = json.loads(checkpoint.read_text(encoding="utf-8"))
        assert 0 < state["copied"] < 1200, f"the migration was not caught mid-way: {state}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    resumed = yq(data, "migrate", "--to", "elasticsearch", "--batch", "50")
    assert "resumed after" in resumed.stdout  # at or after the checkpoint seen: it ran on until the kill
    assert "1200 in the embedded store, 1200 in Elasticsearch: counts agree" in resumed.stdout
    count, ids, alert, *_ = target_state(cfg)
    assert count == 1200 and len(ids) == 1200 and alert is not None  # nothing twice, nothing lost
    assert not checkpoint.exists()


def test_migrate_says_what_differs(migration):
    data, cfg = migration
    from yuqing.storage.elasticsearch import ElasticsearchStore

    target = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
    target.setup()
    stranger = Mention(url="https://example.org/only-in-es", source="news", title="只在集群里", published_at=T0)
    target.index_many([stranger])
    target.close()
    proc = yq(data, "migrate", "--to", "elasticsearch", check=False)
    assert proc.returncode == 1
    assert "1200 in the embedded store, 1201 in Elasticsearch: COUNTS DIFFER" in proc.stdout
    assert f"{cfg.url} ({cfg.index_prefix}-mentions) holds 1 mention(s) the embedded store does not" in proc.stderr
    assert (data / "migrate-elasticsearch.json").exists()  # kept: the next run starts where this one ended


def test_migrate_without_an_embedded_store_is_exit_2(tmp_path):
    proc = yq(tmp_path, "migrate", "--to", "elasticsearch", check=False)
    assert proc.returncode == 2 and "store.sqlite.path: no embedded store at" in proc.stderr
