"""The SQLite store's write path: a batch is looked up, deleted and inserted table by table, in
rowid order. What the row-at-a-time upsert guaranteed still holds: a later copy of an id in the
same batch wins and keeps a person's corrections, mentions of one millisecond get distinct rowids
in arrival order, and a replay changes no rowid."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from tests.conftest import SHANGHAI
from tests.test_store_contract import T0, find, ids, mention
from yuqing.storage import sqlite
from yuqing.storage.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    yield s
    s.close()


def rowids(store: SqliteStore) -> dict[str, int]:
    return {i: r for r, i in store._db.execute("SELECT rowid, id FROM mentions")}


def intact(store: SqliteStore) -> None:
    """FTS5's own check that the index matches its content (raises when it does not)."""
    store._db.execute("INSERT INTO mention_index (mention_index, rank) VALUES ('integrity-check', 1)")


def at(m, milliseconds: int):
    m.published_at = T0 + timedelta(milliseconds=milliseconds)
    return m


def test_a_batch_holding_an_id_twice_writes_the_later_copy_once(store):
    first = mention(1, "信用卡", "遭到暴力催收", polarity="negative")
    later = mention(1, "信用卡", "服务态度很好", polarity="positive", hours=2)
    report = store.index_many([first, mention(2, "理财", "理财亏损"), later])
    assert (report.created, report.updated) == (2, 1)
    assert store.count() == 2
    assert store.get(first.id).content == "服务态度很好"
    assert ids(find(store, "暴力")) == []
    assert ids(find(store, "态度", polarity="positive")) == [1]
    intact(store)


def test_copies_in_one_batch_keep_a_stored_correction(store):
    corrected = mention(1, "信用卡", "遭到暴力催收", polarity="negative",
                        corrections=[{"by": "王五", "at": "2026-03-02T10:00:00+08:00", "note": "",
                                      "before": {"polarity": "neutral"}, "after": {"polarity": "negative"}}],
                        model_analysis={"polarity": "neutral"})
    store.index_many([corrected])
    recrawled = [mention(1, "信用卡", "遭到暴力催收", polarity="positive"),
                 mention(1, "信用卡", "遭到暴力催收", polarity="neutral")]
    assert store.index_many(recrawled).updated == 2
    stored = store.get(corrected.id)
    assert stored.polarity == "negative"
    assert stored.model_analysis == {"polarity": "neutral"}
    assert len(stored.corrections) == 1
    assert ids(find(store, corrected_only=True)) == [1]
    intact(store)


def test_mentions_of_one_millisecond_get_the_rowids_one_at_a_time_would_give(tmp_path, monkeypatch):
    monkeypatch.setattr("yuqing.storage.sqlite.ROWIDS_PER_MS", 4)  # a millisecond is full after four
    batch = [at(mention(i, "催收", f"第{i}条"), 0) for i in range(6)]
    batch += [at(mention(10 + i, "催收", f"后来{i}"), 1) for i in range(3)]
    batch += [at(mention(20 + i, "催收", f"更早{i}"), -5) for i in range(2)]
    together, alone = SqliteStore(tmp_path / "a.db", tz=SHANGHAI), SqliteStore(tmp_path / "b.db", tz=SHANGHAI)
    together.index_many(batch)
    for m in batch:
        alone.index_many([m])
    assert rowids(together) == rowids(alone)
    assert len(set(rowids(together).values())) == len(batch)
    assert find(together, "催收").total == len(batch)
    intact(together)
    together.close()
    alone.close()


def test_a_replayed_batch_keeps_every_rowid_and_moves_a_changed_time(store):
    batch = [at(mention(i, "催收", f"第{i}条"), i % 3) for i in range(12)]
    store.index_many(batch)
    before = rowids(store)
    moved = at(mention(5, "催收", "第5条"), 10_000)
    report = store.index_many([*batch[:5], moved, *batch[6:]])
    assert (report.created, report.updated) == (0, 12)
    after = rowids(store)
    assert {i: r for i, r in after.items() if i != moved.id} == {i: r for i, r in before.items() if i != moved.id}
    assert after[moved.id] > max(before.values())
    assert ids(find(store, "催收", limit=1, sort="time")) == [5]
    intact(store)


def test_a_write_segmented_in_worker_processes_stores_what_one_in_process_does(tmp_path, monkeypatch):
    """The large-write path (texts segmented in worker processes, rows built and written here, in
    transactions of `WRITE_ROWS`) against the small-write path over the same batch: the same rows,
    the same index, the same refused mention, the later copy of an id written."""
    batch = [mention(i, f"标题{i % 7}", f"第{i}条：客户反映信用卡被暴力催收{'，服务很好' * (i % 3)}", hours=i % 50,
                     polarity=("negative", "neutral", "positive")[i % 3], risk=(i % 10) / 10) for i in range(60)]
    batch.append(mention(5, "改过", "同一条的后一份：理财亏损", hours=3, polarity="positive"))
    bad = mention(99, "坏文档", "情感分数不是数字")
    bad.sentiment = float("nan")
    batch.insert(30, bad)

    def written(name: str) -> tuple:
        store = SqliteStore(tmp_path / name, tz=SHANGHAI)
        report = store.index_many(batch)
        intact(store)
        # By id, not rowid: which of one millisecond's mentions gets which rowid depends on where the
        # transactions split a batch (a later copy's delete may free a rowid before or after a new row takes one).
        docs = store._db.execute("SELECT m.id, m.source, m.polarity, m.risk, m.group_id, d.doc, i.title, i.body, "
                                 "i.tags FROM mentions m JOIN mention_docs d ON d.seq = m.doc_seq "
                                 "JOIN mention_index i ON i.rowid = m.rowid ORDER BY m.id").fetchall()
        labels = store._db.execute("SELECT m.id, l.kind, l.value FROM mention_labels l JOIN mentions m "
                                   "ON m.rowid = l.mention_rowid ORDER BY 1, 2, 3").fetchall()
        found = ids(find(store, "催收")), ids(find(store, "理财"))
        store.close()
        return (report.created, report.updated, [i for i, _ in report.failed]), docs, labels, found

    monkeypatch.setattr("yuqing.segment.PARALLEL_MIN", 10 ** 6)
    alone = written("alone.db")
    monkeypatch.setattr("yuqing.segment.PARALLEL_MIN", 10)
    monkeypatch.setattr("yuqing.segment.PARALLEL_CHUNK", 7)
    monkeypatch.setattr("yuqing.storage.sqlite.WRITE_ROWS", 20)
    assert written("workers.db") == alone
    assert alone[0] == (60, 1, [bad.id]) and 5 in alone[3][1]


@pytest.mark.parametrize("parallel", [False, True])
def test_a_text_that_cannot_be_segmented_refuses_its_mention_and_says_why(store, monkeypatch, parallel):
    """In this process or in the workers: the mention is in the report with the error, the rest are written."""
    if parallel:
        monkeypatch.setattr("yuqing.segment.PARALLEL_MIN", 3)
        monkeypatch.setattr("yuqing.segment.PARALLEL_CHUNK", 2)
    batch = [mention(i, "催收", f"第{i}条", hours=i) for i in range(5)]
    batch[2].content = b"\xe5\x82\xac bytes"
    report = store.index_many(batch)
    assert report.created == 4 and sorted(rowids(store)) == sorted(m.id for m in batch if m is not batch[2])
    assert [i for i, _ in report.failed] == [batch[2].id]
    assert report.failed[0][1].startswith("cannot segment its title or text: TypeError: ")


def test_a_write_that_fails_mid_transaction_keeps_the_transactions_before_and_nothing_after(store, monkeypatch):
    """Chunks are written as they come back, inside one transaction per `WRITE_ROWS` rows: an
    error in a later chunk rolls back the rows of the open transaction only, and the store goes on."""
    monkeypatch.setattr("yuqing.segment.PARALLEL_CHUNK", 7)
    monkeypatch.setattr("yuqing.storage.sqlite.WRITE_ROWS", 20)
    batch = [mention(i, "催收", f"第{i}条", hours=i) for i in range(40)]
    real = sqlite._prepare

    def failing(m, segmented):
        if m is batch[30]:
            raise RuntimeError("interrupted")
        return real(m, segmented)

    monkeypatch.setattr("yuqing.storage.sqlite._prepare", failing)
    with pytest.raises(RuntimeError):
        store.index_many(batch)
    assert sorted(rowids(store)) == sorted(m.id for m in batch[:21])  # three chunks of 7: one commit
    monkeypatch.setattr("yuqing.storage.sqlite._prepare", real)
    assert store.index_many(batch).created == 19
    assert find(store, "催收").total == 40
    intact(store)


def test_a_new_file_has_the_write_page_size_and_an_old_one_keeps_its_own(tmp_path):
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.execute("PRAGMA page_size = 4096")
    db.execute("CREATE TABLE t (x)")
    db.close()
    for path, size in ((tmp_path / "new.db", sqlite.PAGE_SIZE), (old, 4096)):
        s = SqliteStore(path, tz=SHANGHAI)
        s.index_many([mention(1, "催收", "正文")])
        assert s._db.execute("PRAGMA page_size").fetchone()[0] == size
        assert ids(find(s, "催收")) == [1]
        s.close()


def test_a_schema_4_store_migrates_keeping_every_mention_and_finds_what_a_new_one_does(tmp_path):
    """A file in the layout before wide rows by arrival (schema 4: documents and the index's own
    content at the time rowid) upgrades in place: every mention is kept as it was, searches give
    what a store written afresh gives, and updates, deletes and new writes after the move keep
    FTS5's index equal to its (now external) content."""
    import json

    from tests.test_store_contract import CORPUS
    from yuqing.segment import index_tokens

    corrected = mention(20, "已更正", "人工改过的催收投诉", hours=5, polarity="negative",
                        corrections=[{"by": "王五", "at": "2026-03-02T10:00:00+08:00", "note": "",
                                      "before": {"polarity": "neutral"}, "after": {"polarity": "negative"}}],
                        model_analysis={"polarity": "neutral"})
    written = [*CORPUS, corrected]
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path, isolation_level=None)
    sqlite.migrate(db, path, sqlite.MIGRATIONS[:4], "schema_version")
    for m in written:
        doc = json.dumps(m.to_dict(), ensure_ascii=False)
        sqlite._insert_v3(db, sqlite._row(m, doc, index_tokens(m.title), index_tokens(m.content)))
    db.close()
    old, new = SqliteStore(path, tz=SHANGHAI), SqliteStore(tmp_path / "new.db", tz=SHANGHAI)
    new.index_many(written)
    assert old.schema_version == len(sqlite.MIGRATIONS) == 5
    assert old.count() == len(written)
    assert [old.get(m.id).to_dict() for m in written] == [new.get(m.id).to_dict() for m in written]
    intact(old)

    def answers(store: SqliteStore) -> list[tuple[int, list[int]]]:
        return [(r.total, ids(r)) for r in (find(store, q) for q in (
            "", "催收", "银行", '"暴力催收"', "信用卡 OR 理财", "催收 -骚扰", "source:weibo", "author:李四",
            "polarity:negative 催收", "risk:>0.5"))] + [(find(store, "催收", corrected_only=True).total, [])]

    assert answers(old) == answers(new)
    later = mention(20, "已更正", "再次抓取：催收投诉", hours=5, polarity="positive")  # keeps the correction
    moved = mention(2, "招行网点服务好", "今天在网点办业务，理财经理态度很好。", hours=30, source="news")
    for store in (old, new):
        store.index_many([later, moved, mention(30, "新的", "新的催收投诉", hours=40)])
        store.prune(T0 + timedelta(minutes=30))
        intact(store)
    assert answers(old) == answers(new)
    assert old.get(later.id).polarity == "negative"
    old.close()
    new.close()
