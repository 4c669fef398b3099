"""The one way in (`yuqing.ingest`), the one id rule (`yuqing.model.mention_id`) and the data dir's
contract (`yuqing.datadir`): the real analyser, a real SQLite file, real files in a temp data dir."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.services import Services
from tests.conftest import SHANGHAI
from yuqing.config import from_mapping
from yuqing.datadir import DataDir, HealthRecord, atomic_write, safe_name
from yuqing.importer import import_jsonl
from yuqing.model import Mention, Rejected, canonical_url, mention_id
from yuqing.spool import RejectLog, Spool
from yuqing.storage.base import StoreError
from yuqing.storage.sqlite import SqliteStore

NOW = datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(hours=1)
JINCHENG = {"name": "锦程银行", "aliases": ["锦程", "锦程信用卡"], "exclude": ["锦程路", "锦程大道"]}


def services(tmp_path: Path, institutions=(JINCHENG,)) -> Services:
    config = from_mapping({"institutions": list(institutions)}, "test.yaml", tmp_path, env={})
    return Services(config)


def post(i: int, text: str, **kw) -> Mention:
    return Mention(url=f"https://example.org/p/{i}", source="news", title="", content=text, published_at=NOW, **kw)


def rejects(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(DataDir(tmp_path).rejects.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def svc(tmp_path):
    with services(tmp_path) as s:
        yield s


# -- relevance is the analyser's matcher -----------------------------------------------------------

@pytest.mark.parametrize("text", [
    "錦程銀行信用卡被盜刷",  # traditional characters: the analyser normalises before matching
    "錦程銀行信用卡被盗刷",
    "锦程路上的锦程银行网点关门了",  # the street is excluded, the bank next to it is not
    "锦程的信用卡又涨年费了",  # an alias
])
def test_posts_about_a_watched_institution_are_kept(svc, text):
    report = svc.ingest.ingest([post(1, text)], "news")
    assert (report.stored, report.filtered) == (1, 0)
    assert svc.store.get(post(1, text).id).institutions == ["锦程银行"]


@pytest.mark.parametrize("text", [
    "锦程路堵车了，锦程大道也堵",  # only exclusion words: a street, not the bank
    "今天天气很好",
])
def test_posts_about_no_watched_institution_are_filtered_and_counted(svc, text):
    report = svc.ingest.ingest([post(1, text)], "news")
    assert (report.stored, report.filtered) == (0, 1)
    assert svc.store.get(post(1, text).id) is None


def test_without_institutions_everything_is_kept(tmp_path):
    with services(tmp_path, institutions=()) as s:
        assert s.ingest.ingest([post(1, "今天天气很好")], "news").stored == 1


def test_invalid_items_go_to_the_reject_log_with_where_and_why(svc, tmp_path):
    future = post(2, "锦程银行明天的新闻")
    future.published_at = NOW + timedelta(days=3)
    items = [post(1, "锦程银行网点"),
             Mention(url="ftp://example.org/x", source="news", content="锦程银行", published_at=NOW),
             future, Rejected("https://example.org/r", "news", "unreadable date 'x'", {"published": "x"})]
    report = svc.ingest.ingest(items, "news", ["a.jsonl:1", "a.jsonl:2", "a.jsonl:3", ""])
    assert (report.stored, report.rejected) == (1, 3)
    lines = rejects(tmp_path)
    assert [(r["where"], r["stage"]) for r in lines] == [
        ("a.jsonl:2", "validate"), ("a.jsonl:3", "validate"), ("https://example.org/r", "validate")]
    assert "not an http(s) URL" in lines[0]["reason"] and "in the future" in lines[1]["reason"]
    assert report.rejects[2] == ("https://example.org/r", "unreadable date 'x'")


def test_a_store_that_fails_spools_and_the_next_ingest_replays(tmp_path):
    data = DataDir(tmp_path)
    (tmp_path / "yuqing.db").mkdir()  # the store cannot be opened: a folder where the file should be
    with services(tmp_path) as down:
        report = down.ingest.ingest([post(1, "锦程银行网点关门"), post(2, "锦程银行又涨价")], "news")
        assert (report.stored, report.spooled) == (0, 2)
        (problem,) = report.problems
        assert "cannot open the sqlite store" in problem and str(data.spool("mentions")) in problem
        assert down.ingest.ingest([post(3, "锦程银行")], "news").spooled == 1  # not retried per batch
    (tmp_path / "yuqing.db").rmdir()
    with services(tmp_path) as up:
        replay = up.ingest.replay_spool("news")
        assert replay.replayed == 3 and replay.problems == []
        assert {up.store.get(post(i, "").id) is not None for i in (1, 2, 3)} == {True}
    assert Spool(data).pending() == []


# -- one id rule -----------------------------------------------------------------------------------

def test_an_imported_and_a_crawled_copy_of_a_post_are_one_mention(svc, tmp_path):
    crawled = Mention(url="https://m.weibo.cn/detail/5012345678901234", source="weibo-锦程", platform="weibo",
                      platform_id="5012345678901234", content="锦程银行暴力催收", published_at=NOW)
    svc.ingest.ingest([crawled], "weibo-锦程")
    imported = tmp_path / "in.jsonl"
    imported.write_text(json.dumps({
        "url": "https://weibo.com/1234567890/Nabcdef", "title": "", "content": "锦程银行暴力催收，还骚扰家人",
        "published_at": NOW.isoformat(), "source": "weibo-import", "platform": "weibo",
        "platform_id": "5012345678901234"}, ensure_ascii=False) + "\n", encoding="utf-8")
    report = import_jsonl(imported, svc.ingest, SHANGHAI)
    assert (report.ingest.index.created, report.ingest.index.updated) == (0, 1)
    assert svc.store.count() == 1 and "骚扰家人" in svc.store.get(crawled.id).content


def test_the_id_is_platform_and_post_id_else_the_canonical_url():
    assert mention_id("https://a.example/1", "weibo", "42") == mention_id("https://b.example/2", "weibo", "42")
    assert mention_id("https://a.example/1", "weibo", "42") != mention_id("https://a.example/1", "tieba", "42")
    assert mention_id("https://a.example/1") == mention_id("HTTPS://A.example/1/#top")
    # a configured source's name is not part of the id: two installations name sources differently
    a = Mention(url="https://a.example/1", source="my-weibo", platform="weibo", platform_id="42")
    b = Mention(url="https://a.example/1?x=1", source="weibo", platform="weibo", platform_id="42")
    assert a.id == b.id


def test_import_needs_platform_and_platform_id_together(svc, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"url": "https://e.org/1", "content": "锦程银行", "published_at": NOW.isoformat(),
                                "source": "x", "platform": "weibo"}) + "\n", encoding="utf-8")
    report = import_jsonl(path, svc.ingest, SHANGHAI)
    assert report.bad_lines == [(1, 'platform and platform_id go together (e.g. "weibo" and the post\'s mid)')]
    assert rejects(tmp_path)[0]["where"] == f"{path}:1"


@pytest.mark.parametrize("url, canonical", [
    # tracking parameters go ...
    ("https://e.org/p?id=7&utm_source=wx&utm_medium=social&spm=a.b.c", "https://e.org/p?id=7"),
    ("https://www.bilibili.com/video/BV1x?spm_id_from=333.1&vd_source=abc&share_source=copy",
     "https://www.bilibili.com/video/BV1x"),
    ("https://e.org/p?gclid=1&fbclid=2&msclkid=3&wfr=spider", "https://e.org/p"),
    # ... parameters that select the page stay, sorted
    ("https://bbs.e.org/thread?tid=9&from=board&source=rss", "https://bbs.e.org/thread?from=board&source=rss&tid=9"),
    ("https://e.org/news?timestamp=1700000000&page=2", "https://e.org/news?page=2&timestamp=1700000000"),
    ("https://e.org/t?t=5&ref=abc", "https://e.org/t?ref=abc&t=5"),
    ("HTTPS://E.org/a/b/#frag", "https://e.org/a/b"),
])
def test_tracking_parameters_are_dropped_and_the_rest_kept(url, canonical):
    assert canonical_url(url) == canonical


# -- the data dir ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/b", "..", "锦程 微博", ".hidden"])
def test_a_health_file_stays_inside_the_health_folder(tmp_path, name):
    data = DataDir(tmp_path)
    path = data.write_health(HealthRecord(name, "rss", state="degraded", state_reason="r", state_url="https://e.org/"))
    assert path.parent == data.health and path.resolve().parent == data.health.resolve()
    assert data.read_health(name) == HealthRecord(name, "rss", state="degraded", state_reason="r", state_url="https://e.org/")
    assert safe_name("a/b") != safe_name("a_b")


def test_health_records_carry_a_known_state(tmp_path):
    data = DataDir(tmp_path)
    assert data.read_health("never") is None
    with pytest.raises(ValueError, match="not one of: ok, degraded, blocked, login-required, failing"):
        HealthRecord("x", state="fine")
    data.health_file("broken").parent.mkdir(parents=True)
    data.health_file("broken").write_text("{half", encoding="utf-8")
    broken = data.read_health("broken")
    assert broken is not None and broken.state == "failing" and "unreadable" in broken.state_reason


def test_atomic_write_replaces_whole_files_and_leaves_no_partial(tmp_path):
    path = atomic_write(tmp_path / "deep" / "f.json", "one")
    atomic_write(path, b"two")
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_every_spool_lives_under_data_dir_spool(tmp_path):
    data = DataDir(tmp_path)
    assert {data.spool(k).parent for k in ("mentions", "alerts", "digests")} == {tmp_path / "spool"}
    with pytest.raises(ValueError, match="unknown spool"):
        data.spool("other")  # type: ignore[arg-type]


def test_spool_round_trip_keeps_bad_lines_and_releases_stale_claims(tmp_path: Path):
    spool = Spool(DataDir(tmp_path))
    m = Mention(url="https://e.com/1", source="s", title="锦程银行", published_at=NOW)
    path = spool.write([m], "../s")
    assert path.parent == spool.dir
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    stale = path.with_name(path.name.replace(".jsonl", "-b.jsonl") + ".replaying-999999999")
    stale.write_text(json.dumps(m.to_dict()) + "\n", encoding="utf-8")
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        report = spool.replay(store)
        assert report.replayed == 2 and report.files == 2 and report.index.failed == []
        assert report.bad_lines[0][0].endswith(":2") and report.bad_lines[0][2] == "{not json"
        assert store.get(m.id) is not None
    finally:
        store.close()
    assert spool.pending() == [] and list(spool.dir.iterdir()) == []


def test_spool_stays_when_the_store_fails(tmp_path: Path):
    spool = Spool(DataDir(tmp_path))
    spool.write([Mention(url="https://e.com/1", source="s", title="t", published_at=NOW)], "s")
    store = SqliteStore(tmp_path / "db.sqlite")
    store.close()  # a closed store fails like a dead one, with a StoreError
    with pytest.raises(StoreError, match="closed"):
        spool.replay(store)
    assert len(spool.pending()) == 1


def test_reject_log_lines(tmp_path: Path):
    path = RejectLog(DataDir(tmp_path), SHANGHAI).write("http://x/1", "src", "validate", "no text", {"title": ""})
    line = json.loads(path.read_text(encoding="utf-8"))
    assert path.parent.name == "rejects" and line["reason"] == "no text" and line["source"] == "src"
    assert line["where"] == "http://x/1"
