"""`yuqing export`, `prune` and the retention job, run as a user runs them: the real `yuqing`
process on a real data dir, over the embedded store and (marked) the real Elasticsearch node.
`migrate` is in tests/test_migrate.py."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import uuid
from datetime import datetime, timedelta

import pytest

from tests.conftest import SHANGHAI, es_url, open_test_store
from tests.test_cli import yq
from yuqing.alertstore.model import Alert, AlertMention, AlertRecord
from yuqing.model import Mention

NOW = datetime.now(SHANGHAI).replace(microsecond=0)


def mention(i: int, title: str, content: str = "客户投诉暴力催收。", *, days: float = 1, source: str = "weibo",
            polarity: str = "negative") -> Mention:
    return Mention(url=f"https://example.org/export/{i}", source=source, title=title, content=content,
                   published_at=NOW - timedelta(days=days), polarity=polarity, sentiment=0.2, risk=0.7,
                   institutions=["招商银行"], categories=["暴力催收"], keywords=["催收", "投诉"], author=f"用户{i}")


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"点我\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "普通标题"]
CORPUS = [mention(i, title, days=i + 1) for i, title in enumerate(HOSTILE)] + [
    mention(10, "招行网点服务好", "工作人员态度很好。", polarity="positive", source="news", days=2),
    mention(11, "旧帖", "两年前的催收投诉。", days=800),
]


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def data_dir(request, tmp_path):
    """A data dir whose config points at a fresh store of each backend, filled with CORPUS."""
    data = tmp_path / "data"
    data.mkdir()
    if request.param == "sqlite":
        where = str(data / "yuqing.db")
    else:
        prefix = f"test-dataops-{uuid.uuid4().hex[:8]}"
        where = f"{es_url()} {prefix}"
        (data / "yuqing.yaml").write_text(f"store:\n  backend: elasticsearch\n  elasticsearch: "
                                          f"{{url: '{es_url()}', index_prefix: {prefix}}}\n", encoding="utf-8")
    store = open_test_store(request.param, where, refresh=True)
    store.setup()
    assert not store.index_many(CORPUS).failed
    alert_store = None
    if request.param == "elasticsearch":
        from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore

        alert_store = ElasticsearchAlertStore(store.cfg)
        alert_store.setup()
    yield data
    if alert_store is not None:
        alert_store.drop()
        alert_store.close()
        store.drop()
    store.close()


def test_export_csv_has_a_bom_a_header_and_safe_cells(data_dir, tmp_path):
    out = tmp_path / "out" / "催收.csv"
    proc = yq(data_dir, "export", "催收", "--polarity", "negative", "--out", str(out), "--batch", "2")
    assert proc.stdout.strip() == f"exported 7 mention(s) to {out} (csv)"
    assert proc.stderr == ""  # not a terminal: no progress bar
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 7 and "\r\n" in raw.decode("utf-8")
    titles = {r["title"] for r in rows}
    assert titles == {"'" + t if t[0] in "=+-@\t" else t for t in HOSTILE} | {"旧帖"}
    one = next(r for r in rows if r["title"] == "普通标题")
    cells = (one["institutions"], one["keywords"], one["risk"], one["author"])
    assert cells == ("招商银行", "催收; 投诉", "0.7", "用户5")
    assert datetime.fromisoformat(one["published_at"]).utcoffset() == timedelta(hours=8)
    assert not list(out.parent.glob(".*.part"))  # the temporary file is gone


def test_export_jsonl_is_every_field_of_every_match(data_dir, tmp_path):
    out = tmp_path / "all.jsonl"
    yq(data_dir, "export", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(d["id"] for d in lines) == sorted(m.id for m in CORPUS)
    want = next(m for m in CORPUS if m.title == "旧帖").to_dict()
    got = next(d for d in lines if d["id"] == want["id"])
    assert {k: got[k] for k in ("url", "title", "content", "categories", "risk")} == \
        {k: want[k] for k in ("url", "title", "content", "categories", "risk")}
    news = tmp_path / "news.jsonl"
    yq(data_dir, "export", "--source", "news", "--from", (NOW - timedelta(days=3)).date().isoformat(),
       "--format", "jsonl", "--out", str(news))
    assert [json.loads(line)["title"] for line in news.read_text(encoding="utf-8").splitlines()] == ["招行网点服务好"]


def test_export_xlsx_keeps_text_as_text(data_dir, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")  # test dependency, only to read the file back
    out = tmp_path / "all.xlsx"
    yq(data_dir, "export", "--out", str(out))
    sheet = openpyxl.load_workbook(out, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("id", "published_at", "source", "author", "title")
    titles = {r[4] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in titles and "普通标题" in titles
    assert len(rows) == len(CORPUS) + 1
    assert {r[9] for r in rows[1:]} == {0.7}  # risk stays a number


def test_export_replaces_an_old_file_only_when_whole(tmp_path):
    """A store that fails after the first batch (the real SQLite store, wrapped to fail: a real
    mid-export failure cannot be timed): the old file stays as it was, no partial file is left."""
    from app.dataops import export
    from app.services import Services
    from yuqing.config import from_mapping
    from yuqing.storage.base import SearchRequest, StoreError
    from yuqing.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "yuqing.db", tz=SHANGHAI)
    store.index_many(CORPUS)

    class FailingAfterOneBatch:
        def __getattr__(self, name):
            return getattr(store, name)

        def scan(self, request=None, batch_size=1000):
            batches = store.scan(request, batch_size)
            yield next(batches)
            raise StoreError("the store went away")

    out = tmp_path / "export.csv"
    out.write_text("an older export\n", encoding="utf-8")
    services = Services(from_mapping({}, "<test>", tmp_path), store=FailingAfterOneBatch())
    with pytest.raises(StoreError):
        export(services, SearchRequest(query=None), "csv", out, batch_size=2)
    assert out.read_text(encoding="utf-8") == "an older export\n"
    # No partial export left behind (the column snapshot is the store's, written by its first search).
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "export.csv", "yuqing.db", "yuqing.db-shm", "yuqing.db-wal", store.snapshot_path.name]
    store.close()


def test_stream_gives_the_bytes_export_writes(tmp_path):
    """What the web app sends for a download is the file `yuqing export` writes."""
    from yuqing.export import export_file, stream

    for fmt in ("csv", "jsonl"):
        export_file(fmt, [CORPUS[:3], CORPUS[3:]], tmp_path / f"x.{fmt}")
        assert b"".join(stream(fmt, [CORPUS[:3], CORPUS[3:]])) == (tmp_path / f"x.{fmt}").read_bytes()
    xlsx = b"".join(stream("xlsx", [CORPUS]))
    assert xlsx.startswith(b"PK") and len(xlsx) > 1000  # a zip; its contents: test_export_xlsx_keeps_text_as_text


def test_export_shows_a_progress_bar_on_a_terminal(tmp_path):
    from yuqing.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "yuqing.db", tz=SHANGHAI)
    store.index_many(CORPUS)
    store.close()
    primary, secondary = pty.openpty()  # stderr is a terminal, as when a person runs it
    env = dict(os.environ, YUQING_DATA_DIR=str(tmp_path), COLUMNS="100")
    env.pop("YUQING_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "export", "--out", str(tmp_path / "x.csv"),
                           "--batch", "3"], env=env, stdout=subprocess.PIPE, stderr=secondary, timeout=300)
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"export x.csv" in drawn and f"{len(CORPUS)}/{len(CORPUS)}".encode() in drawn
    assert proc.stdout.decode().startswith(f"exported {len(CORPUS)} mention(s)")


@pytest.mark.parametrize("args, problem", [
    (["--out", "x.txt"], "--format: give --format csv|jsonl|xlsx"),
    (["--out", "x.csv", "催收 AND ("], "QUERY:"),
    (["--out", "x.csv", "--from", "yesterday"], "--from: 'yesterday' is not a date"),
])
def test_export_bad_usage_is_one_line_and_exit_2(tmp_path, args, problem):
    proc = yq(tmp_path, "export", *args, check=False)
    assert proc.returncode == 2 and problem in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("x.*"))


def test_export_into_a_folder_is_refused(tmp_path):
    proc = yq(tmp_path, "export", "--out", str(tmp_path), "--format", "csv", check=False)
    assert proc.returncode == 2 and "is a folder" in proc.stderr


# -- prune and retention -----------------------------------------------------------------------

def alert_quoting(m: Mention) -> AlertRecord:
    at = NOW - timedelta(days=700)
    latest = Alert(rule="negative-spike", institution="招商银行", polarity="negative", bucket_start=at,
                   bucket_end=at + timedelta(hours=1), count=9, baseline=1.0, score=0.99, created_at=at,
                   mentions=[AlertMention(m.title, m.url, m.source, m.published_at.isoformat())])
    return AlertRecord(id="a-old", rule="negative-spike", institution="招商银行", severity="紧急", state="resolved",
                       started_at=at, updated_at=at, last_seen_at=at, latest=latest)


def test_prune_dry_run_then_prune_and_alerts_quoting_them_still_work(data_dir):
    from app.services import Services

    with Services.load(data_dir=str(data_dir)) as services:
        services.alert_store.put_alert(alert_quoting(CORPUS[-1]))
    dry = yq(data_dir, "prune", "--older-than", "365d", "--dry-run")
    assert dry.stdout.startswith("would delete 1 mention(s) published before ")
    assert json.loads(yq(data_dir, "search", "--json", "--limit", "50").stdout)["total"] == len(CORPUS)
    done = yq(data_dir, "prune", "--older-than", "52w")
    assert done.stdout.startswith("deleted 1 mention(s) published before ")
    left = json.loads(yq(data_dir, "search", "--json", "--limit", "50").stdout)
    assert left["total"] == len(CORPUS) - 1 and "旧帖" not in {h["title"] for h in left["hits"]}
    assert yq(data_dir, "prune", "--older-than", "365d").stdout.startswith("deleted 0 mention(s)")
    listed = json.loads(yq(data_dir, "alerts", "list", "--state", "all", "--json").stdout)["alerts"]
    assert [a["id"] for a in listed] == ["a-old"]
    shown = yq(data_dir, "alerts", "show", "a-old").stdout
    assert "旧帖" in shown  # the alert keeps its own quote of the pruned mention


def test_prune_bad_age_is_exit_2(tmp_path):
    proc = yq(tmp_path, "prune", "--older-than", "a year", check=False)
    assert proc.returncode == 2 and "--older-than: 'a year' is not a duration" in proc.stderr


@pytest.mark.parametrize("value, problem", [
    ("12h", "store.retention: '12h' is shorter than a day"),
    ("forever", "store.retention: 'forever' is not a duration"),
    ("7d", "store.retention: 7d is shorter than the history of alert rule"),
])
def test_retention_is_validated_at_load(tmp_path, value, problem):
    (tmp_path / "yuqing.yaml").write_text(f"store:\n  retention: {value}\n", encoding="utf-8")
    proc = yq(tmp_path, "status", check=False)
    assert proc.returncode == 2 and problem in proc.stderr, proc.stderr


def test_retention_job_is_scheduled_and_prunes(tmp_path):
    from app.scheduler import RETENTION_CRON, Service
    from app.services import Services
    from yuqing.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "yuqing.db", tz=SHANGHAI)
    store.index_many(CORPUS)
    store.close()
    (tmp_path / "yuqing.yaml").write_text("store:\n  retention: 365d\n", encoding="utf-8")
    with Services.load(data_dir=str(tmp_path)) as services:
        service = Service(services)
        specs = {job_id: trigger for job_id, _, trigger, _ in service.job_specs()}
        assert "store:retention" in specs and str(specs["store:retention"]).startswith("cron[")
        assert RETENTION_CRON.split()[:2] == ["30", "3"]
        assert service.retention() == 1
        assert services.store.count() == len(CORPUS) - 1
    (tmp_path / "yuqing.yaml").write_text("store: {}\n", encoding="utf-8")
    with Services.load(data_dir=str(tmp_path)) as services:
        assert "store:retention" not in {job_id for job_id, *_ in Service(services).job_specs()}



def test_scan_rows_from_the_start_includes_mentions_before_1970(tmp_path):
    """Rowids follow the publication time, so a mention of 1950 has a negative one: the migration's
    first batch (no checkpoint yet) must still include it."""
    from datetime import datetime

    from tests.conftest import SHANGHAI
    from yuqing.model import Mention
    from yuqing.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    old = Mention(url="https://example.org/1950", source="news", title="旧闻", published_at=datetime(1950, 1, 1,
                                                                                                      tzinfo=SHANGHAI))
    new = Mention(url="https://example.org/2026", source="news", title="新闻", published_at=datetime(2026, 1, 1,
                                                                                                      tzinfo=SHANGHAI))
    store.index_many([new, old])
    rows = list(store.scan_rows(batch_size=1))
    assert [m.id for _, batch in rows for m in batch] == [old.id, new.id]
    assert rows[0][0] < 0 < rows[1][0]
    store.close()
