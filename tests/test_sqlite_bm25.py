"""bm25 computed from its parts (`yuqing.storage.sqlite_bm25`) is FTS5's own `bm25()` rank, to the
last bit, and a relevance search of the SQLite store scores and orders its hits by it."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHANGHAI
from tests.test_sqlite_frequent import corpus
from tests.test_store_contract import mention
from yuqing.query import Term, parse, positive_terms
from yuqing.segment import query_tokens
from yuqing.storage.base import SearchRequest
from yuqing.storage.sqlite import SqliteStore, _fts, _hits
from yuqing.storage.sqlite_bm25 import bm25, varints

QUERIES = ["银行", "银行 催收", "催收 OR 理财 OR 闪退", '"暴力 催收"', "招商银行", "App", "银行 -催收",
           "网点 投诉 银行"]


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "s.db", tz=SHANGHAI)
    extra = [mention(900 + i, "银行银行", "银行 " * i + "App 更新", hours=400 + i) for i in range(5)]  # repeats
    store.index_many(corpus(300, seed=5) + extra)
    yield store
    store.close()


def parts(query):
    """The ranking expression of `query` and its phrases, as the store's relevance order builds them."""
    positive = positive_terms(parse(query))
    return " OR ".join(_fts(Term(t)) for t in positive), [w for t in positive for w in query_tokens(t)]


def fts5_ranks(store, match):
    with store._errors("rank") as db:
        return dict(db.execute("SELECT rowid, rank FROM mention_index WHERE mention_index MATCH ?", (match,)))


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_from_its_parts_is_fts5s_rank(store, query):
    match, phrases = parts(query)
    expected = fts5_ranks(store, match)
    assert expected
    with store._errors("rank") as db, store._snapshot(db) as cols:
        ours = bm25(db, np.sort(cols.rowid), phrases, match, lambda p: _hits(db, p))
    assert ours == expected  # the same doubles, not merely close


@pytest.mark.parametrize("from_parts", [0, 10 ** 9])  # computed from its parts always, never
def test_a_relevance_search_scores_its_hits_by_fts5s_rank(store, from_parts, monkeypatch):
    monkeypatch.setattr("yuqing.storage.sqlite.RANK_FROM_PARTS", from_parts)
    match, _ = parts("银行 App")
    expected = fts5_ranks(store, match)
    found = store.search(SearchRequest(query=parse("银行 OR App"), limit=1000))
    with store._errors("rowids") as db:
        rowid = dict(db.execute("SELECT id, rowid FROM mentions"))
    scores = [(rowid[h.mention.id], h.score) for h in found.hits]
    assert scores == sorted(((r, -expected[r]) for r in expected), key=lambda rs: (-rs[1], -rs[0]))


def test_what_cannot_be_read_unambiguously_is_left_to_fts5(store):
    match, phrases = parts("银行 银行")
    with store._errors("rank") as db, store._snapshot(db) as cols:
        assert bm25(db, np.sort(cols.rowid), phrases, match, lambda p: 1) is None  # one text, two phrases


def test_varints_are_sqlites():
    assert varints(bytes([0x05, 0x81, 0x00, 0xFF, 0x7F])) == [5, 128, 0x3FFF]
    assert varints(bytes([0xFF] * 8 + [0x01])) == [(2 ** 56 - 1) << 8 | 1]
