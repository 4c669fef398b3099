"""The column index's snapshot beside a SQLite store: a new store object loads it instead of reading
the whole table, catches up from the log with what others wrote or pruned since, and distrusts a
snapshot that is corrupt, of another file, or older than the log."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
import zlib
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import SHANGHAI
from tests.test_store_contract import CORPUS, T0, find, ids, mention
from yuqing.storage.base import FacetRequest
from yuqing.storage.sqlite import SqliteStore
from yuqing.storage.sqlite_columns import Columns, SnapshotError

QUERIES = [("", {}), ("催收", {}), ("", {"source": "news"}), ("risk:>0.5", {"polarity": "negative"}),
           ("category:暴力催收", {}), ("", {"institution": "招商银行", "sort": "risk"})]


def answers(store):
    """What `QUERIES` return, facets included, in order."""
    out = []
    for query, kw in QUERIES:
        result = find(store, query, facets=FacetRequest(size=10), **kw)
        out.append((result.total, [h.mention.url for h in result.hits], result.facets))
    return out


@pytest.fixture
def saved(tmp_path):
    """A store whose first search read the whole table and left a snapshot beside the file."""
    store = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    store.index_many(CORPUS)
    expected = answers(store)
    assert store.snapshot_path.is_file()
    yield store, expected
    store.close()


@pytest.fixture
def no_table_reads(monkeypatch):
    """Fail any whole-table load: what a store does with the snapshot alone."""
    def refuse(self, db):
        raise AssertionError("read the whole table")
    monkeypatch.setattr(Columns, "_read_all", refuse)


def reopen(store):
    return SqliteStore(store.path, tz=SHANGHAI)


def test_a_new_store_answers_from_the_snapshot_as_from_the_table(saved, no_table_reads):
    store, expected = saved
    other = reopen(store)
    assert answers(other) == expected
    other.close()


def test_a_stale_snapshot_catches_up_with_later_writes_and_prunes(saved, no_table_reads, monkeypatch):
    store, _ = saved
    monkeypatch.setattr("yuqing.storage.sqlite_columns.RELOAD_SHARE", 10)  # most of this small store changes
    store.index_many([mention(7, "新帖", "平安银行暴力催收", hours=5, source="tieba", polarity="negative",
                              institutions=("平安银行",), categories=["暴力催收"], risk=0.95)])
    changed = CORPUS[1].to_dict() | {"polarity": "negative", "source": "weibo"}
    store.index_many([type(CORPUS[1]).from_dict(changed)])
    assert store.prune(T0 + timedelta(hours=2)) == 2  # mentions 1 and 2
    other = reopen(store)
    assert ids(find(other, "催收", source="tieba")) == [7]
    assert ids(find(other, "")) == [3, 4, 5, 6, 7]
    assert 2 not in ids(find(other, polarity="negative", source="weibo"))
    assert ids(find(other, "", institution="平安银行")) == [4, 7]
    assert answers(other) == answers(store)
    other.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip"])
def test_a_damaged_snapshot_is_read_around_and_rewritten(saved, damage, caplog):
    store, expected = saved
    path = store.snapshot_path
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:len(data) // 2], "garbage": b"not a snapshot" * 100, "empty": b"",
                      "flip": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
                      }[damage])
    other = reopen(store)
    with caplog.at_level(logging.WARNING, "yuqing.storage.sqlite"):
        assert answers(other) == expected
    assert "cannot use the column snapshot" in caplog.text
    other.close()
    assert Columns.load(path)[0].seq >= 0  # whole again: the full read wrote it anew


def test_a_snapshot_of_another_file_is_not_trusted(saved, tmp_path):
    store, _ = saved
    foreign = SqliteStore(tmp_path / "f.db", tz=SHANGHAI)
    foreign.index_many(CORPUS[:2])
    foreign.close()
    shutil.copy(store.snapshot_path, foreign.snapshot_path)
    foreign = SqliteStore(tmp_path / "f.db", tz=SHANGHAI)
    assert ids(find(foreign, "")) == [1, 2]
    foreign.close()


def test_a_snapshot_older_than_the_log_is_not_used(saved, monkeypatch):
    store, _ = saved
    monkeypatch.setattr("yuqing.storage.sqlite.CHANGES_KEPT", 1)
    store.index_many([mention(8, "一", "催收一", hours=30)])
    store.index_many([mention(9, "二", "催收二", hours=31)])
    other = reopen(store)
    assert ids(find(other, "催收")) == [1, 6, 8, 9]
    other.close()


def test_a_deleted_and_rebuilt_file_is_not_answered_from_the_old_snapshot(saved):
    store, _ = saved
    store.close()
    store.path.unlink()
    rebuilt = reopen(store)
    rebuilt.index_many([mention(20, "新", "催收", hours=3)])
    assert ids(find(rebuilt, "")) == [20]
    rebuilt.close()


def test_a_snapshot_that_cannot_be_written_fails_no_search(tmp_path, caplog):
    store = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    store.index_many(CORPUS)
    store.snapshot_path.mkdir()  # a folder where the file would go: the rename fails
    with caplog.at_level(logging.WARNING, "yuqing.storage.sqlite"):
        assert ids(find(store, "催收")) == [1, 6]
    assert "cannot write the column snapshot" in caplog.text
    assert not list(tmp_path.glob("*.tmp"))
    store.close()


def test_a_process_far_past_the_snapshot_writes_a_new_one(saved, monkeypatch):
    store, _ = saved
    monkeypatch.setattr("yuqing.storage.sqlite.SNAPSHOT_LAG", 2)
    monkeypatch.setattr("yuqing.storage.sqlite_columns.RELOAD_SHARE", 10)
    before = Columns.load(store.snapshot_path)[0].seq
    store.index_many([mention(30, "新", "催收", hours=6), mention(31, "新", "催收", hours=7)])
    assert ids(find(store, "催收")) == [1, 6, 30, 31]
    assert Columns.load(store.snapshot_path)[0].seq == before + 2


WRITER = """
import sys
import time
import zlib
from datetime import timedelta
from tests.test_store_contract import T0, mention
from yuqing.storage.sqlite import SqliteStore
store = SqliteStore(sys.argv[1])
store.index_many([mention(40, "别处", "外部进程写的催收", hours=8)])
assert store.prune(T0 + timedelta(hours=1)) == 1
store.close()
"""


def test_another_process_writes_and_prunes_after_the_snapshot(saved, no_table_reads, monkeypatch):
    store, _ = saved
    monkeypatch.setattr("yuqing.storage.sqlite_columns.RELOAD_SHARE", 10)
    subprocess.run([sys.executable, "-c", WRITER, str(store.path)], check=True, cwd=Path(__file__).parents[1])
    other = reopen(store)
    assert ids(find(other, "催收")) == [6, 40]
    other.close()


def test_a_snapshot_keeps_every_name_of_its_string_tables(tmp_path):
    cols = Columns()
    tables = {"groups": ["", "组一", "a b", "末"], "sources": [""], "polarities": []}
    for name, values in tables.items():
        getattr(cols, name).encode(values)
    cols.save(tmp_path / "c", {"schema": 4})
    loaded, stamp = Columns.load(tmp_path / "c")
    assert stamp == {"schema": 4}
    for name, values in tables.items():
        names = getattr(loaded, name).names
        assert [names[i] for i in range(len(names))] == values  # one at a time, as a facet reads them
        assert list(names) == values
    assert loaded.groups.names[-1] == "末"
    assert loaded.groups.encode(["a b", "新"]).tolist() == [2, 4]


def test_a_snapshot_whose_labels_point_at_other_rows_is_not_used(saved):
    """A snapshot a bug wrote (its checksum is right): each label's position must be its own row."""
    store, _ = saved
    cols, stamp = Columns.load(store.snapshot_path)
    moved = cols.label_pos.copy()
    moved[0] = (moved[0] + 1) % len(cols)
    cols.label_pos = moved
    cols.save(store.snapshot_path, stamp)
    with pytest.raises(SnapshotError, match="another row"):
        Columns.load(store.snapshot_path)


def test_a_snapshot_file_is_checksummed_once_per_process_until_it_changes(saved, monkeypatch):
    """The CRC reads every page of the file: a process that found it whole trusts it while it is the
    same file (device, inode, size, times); a new snapshot, or one changed in place, is checked again."""
    store, _ = saved
    path = store.snapshot_path
    calls = []
    real = zlib.crc32
    monkeypatch.setattr(zlib, "crc32", lambda *a: calls.append(1) or real(*a))

    def checked() -> bool:
        calls.clear()
        Columns.load(path)
        return bool(calls)

    assert checked() and not checked()
    cols, stamp = Columns.load(path)
    cols.save(path, stamp)
    assert checked() and not checked()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    time.sleep(0.05)  # past the file system's clock tick: the change shows in the times
    path.write_bytes(data)
    with pytest.raises(SnapshotError, match="checksum"):
        Columns.load(path)
