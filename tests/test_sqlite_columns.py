"""The SQLite store's column index (`yuqing.storage.sqlite_columns`): what another connection to
the same file writes, updates or prunes is what the next search sees, and a schema-3 file migrates."""
from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from tests.conftest import SHANGHAI
from tests.test_store_contract import CORPUS, T0, find, ids, mention
from yuqing.segment import index_tokens
from yuqing.storage.base import FacetRequest
from yuqing.storage.sqlite import MIGRATIONS, SqliteStore, _insert_v3, _row, migrate


@pytest.fixture
def two(tmp_path):
    """A reader and a writer: two stores, two connections, one file."""
    reader, writer = SqliteStore(tmp_path / "s.db", tz=SHANGHAI), SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    writer.index_many(CORPUS)
    assert find(reader, "").total == len(CORPUS)  # loads the columns
    yield reader, writer
    reader.close()
    writer.close()


def test_another_connections_new_mentions_are_found(two):
    reader, writer = two
    assert ids(find(reader, "催收", source="tieba")) == []  # its FTS5 answer is cached until the store changes
    writer.index_many([mention(7, "新帖", "平安银行暴力催收", hours=-5, source="tieba", polarity="negative",
                               institutions=("平安银行",), categories=["暴力催收"], risk=0.95)])
    assert ids(find(reader, "催收", source="tieba")) == [7]
    assert ids(find(reader, "risk:>0.9 category:暴力催收", institution="平安银行")) == [7]
    assert [h.mention.url[-1] for h in find(reader, "", sort="risk", limit=1).hits] == ["7"]


def test_another_connections_corrections_and_prunes_are_seen(two):
    reader, writer = two
    changed = CORPUS[1].to_dict() | {"polarity": "negative", "source": "weibo"}
    writer.index_many([type(CORPUS[1]).from_dict(changed)])
    assert 2 in ids(find(reader, polarity="negative", source="weibo"))
    assert 2 not in ids(find(reader, source="news"))
    assert writer.prune(T0 + timedelta(hours=2)) == 2
    assert ids(find(reader, "")) == [3, 4, 5, 6]
    facets = find(reader, "", facets=FacetRequest(size=10)).facets
    assert sum(n for _, n in facets.sources) == 4


def test_a_reader_behind_the_trimmed_log_reloads(two, monkeypatch):
    reader, writer = two
    monkeypatch.setattr("yuqing.storage.sqlite.CHANGES_KEPT", 1)
    writer.index_many([mention(8, "一", "催收一", hours=30), mention(9, "二", "催收二", hours=31)])
    writer.index_many([mention(10, "三", "催收三", hours=32)])
    assert ids(find(reader, "催收")) == [1, 6, 8, 9, 10]


def test_a_schema_3_store_migrates_and_searches(tmp_path):
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, path, MIGRATIONS[:3], "schema_version")
    for m in CORPUS:
        doc = json.dumps(m.to_dict(), ensure_ascii=False)
        _insert_v3(db, _row(m, doc, index_tokens(m.title), index_tokens(m.content)))
    db.close()
    store = SqliteStore(path, tz=SHANGHAI)
    assert store.schema_version == len(MIGRATIONS) == 5
    assert ids(find(store, "催收", polarity="negative")) == [1, 6]
    store.index_many([mention(11, "新", "催收", hours=40, polarity="negative")])
    assert ids(find(store, "催收", polarity="negative")) == [1, 6, 11]
    store.close()
