"""The frequent words' bits in the SQLite store's column index (`yuqing.storage.sqlite_columns`):
each bit is exactly FTS5's answer for its word, and a search using them finds what the one FTS5
expression of the whole request finds, after inserts, updates, deletes and prunes by another
connection, and in a new store that loads the snapshot."""
from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from tests.conftest import SHANGHAI
from tests.test_store_contract import T0, find, mention
from yuqing.query import parse
from yuqing.storage.base import SearchRequest
from yuqing.storage.sqlite import _ROWID_RANGE, SqliteStore, _match
from yuqing.storage.sqlite_columns import Columns, text_match

PHRASES = ["银行网点排队太久", "招商银行信用卡", "暴力催收电话", "理财产品亏损", "客服态度差投诉", "平安银行贷款",
           "app 闪退"]
QUERIES = ["银行", "银行 催收", "银行 -催收", "催收 OR 银行", "银行 OR 经侦", "-银行 催收", "银行 source:weibo",
           "银行 polarity:negative institution:招商银行", "(银行 OR 投诉) -催收", "银行 投诉 -理财",
           '"银行 网点"', "银行 -source:news"]


def corpus(n: int, seed: int, start: int = 0) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        content = "，".join(rng.sample(PHRASES, 3))
        out.append(mention(i, rng.choice(PHRASES), content, hours=i, source=rng.choice(["weibo", "news"]),
                           polarity=rng.choice(["negative", "neutral"]),
                           institutions=(rng.choice(["招商银行", "平安银行"]),)))
    return out


@pytest.fixture
def two(tmp_path):
    """A reader and a writer: two stores, two connections, one file of 300 mentions."""
    reader, writer = SqliteStore(tmp_path / "s.db", tz=SHANGHAI), SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    writer.index_many(corpus(300, seed=1))
    yield reader, writer
    reader.close()
    writer.close()


def urls(store, match):
    """The urls of the mentions FTS5 expression `match` finds."""
    with store._errors("check") as db:
        return {u for u, in db.execute("SELECT json_extract(d.doc, '$.url') FROM mentions m JOIN mention_docs d "
                                       "ON d.seq = m.doc_seq WHERE m.rowid IN "
                                       "(SELECT rowid FROM mention_index WHERE mention_index MATCH ?)", (match,))}


def agrees(store):
    """Each frequent word's bit is FTS5's answer for it, and every query finds what the request as
    one FTS5 expression finds."""
    with store._errors("check") as db, store._snapshot(db) as cols:
        assert text_match("银行") in cols.terms.names  # the bits are in use
        for match in cols.terms.names:
            assert np.array_equal(cols.term(match), cols.of_rowids(store._rowids(db, match, *_ROWID_RANGE))), match
    for query in QUERIES:
        request = SearchRequest(query=parse(query), limit=1000)
        found = store.search(request)
        assert {h.mention.url for h in found.hits} == urls(store, _match(request)), query
        assert found.total == len(found.hits), query


def test_frequent_words_get_bits_that_fts5_agrees_with(two):
    reader, _ = two
    agrees(reader)
    with reader._errors("check") as db, reader._snapshot(db) as cols:
        assert text_match("经侦") not in cols.terms.names  # in no mention
        assert 0 < np.count_nonzero(cols.term(text_match("银行"))) < len(cols)


def test_the_bits_follow_another_connections_inserts_updates_and_prunes(two, monkeypatch):
    reader, writer = two
    agrees(reader)
    monkeypatch.setattr("yuqing.storage.sqlite_columns.RELOAD_SHARE", 10)  # merged, never reloaded

    def refuse(self, db):
        raise AssertionError("read the whole table")
    monkeypatch.setattr(Columns, "_read_all", refuse)
    writer.index_many(corpus(40, seed=2, start=300))  # new mentions
    agrees(reader)
    old = corpus(300, seed=1)
    lost = next(m for m in old if "银行" in m.title + m.content)
    gained = next(m for m in old if "银行" not in m.title + m.content)
    lost.title, lost.content = "暴力催收", "电话不断"  # the same millisecond: the same rowid, other words
    gained.content += "，银行"
    moved = old[5]
    moved.published_at += timedelta(minutes=30)  # another millisecond: another rowid
    writer.index_many([lost, gained, moved])
    assert lost.url not in {h.mention.url for h in find(reader, "银行", limit=1000).hits}
    assert gained.url in {h.mention.url for h in find(reader, "银行", limit=1000).hits}
    agrees(reader)
    assert writer.prune(T0 + timedelta(hours=100)) == 100
    agrees(reader)


def test_a_new_store_reads_the_bits_from_the_snapshot(two, monkeypatch):
    reader, writer = two
    agrees(reader)
    expected = [find(reader, q, limit=1000).total for q in QUERIES]
    writer.index_many(corpus(10, seed=3, start=400))  # after the snapshot: caught up from the log

    def refuse(self, db):
        raise AssertionError("read the whole table")
    monkeypatch.setattr(Columns, "_read_all", refuse)
    other = SqliteStore(reader.path, tz=SHANGHAI)
    agrees(other)
    assert [find(other, q, limit=1000).total for q in QUERIES] != expected  # the ten new ones are found
    other.close()


def test_no_word_gets_a_bit_in_a_small_store(tmp_path):
    store = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    store.index_many(corpus(20, seed=4))
    assert find(store, "银行").total == len(urls(store, text_match("银行"))) > 0
    with store._errors("check") as db, store._snapshot(db) as cols:
        assert cols.terms.names == []
    store.close()
