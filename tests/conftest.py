"""Shared fixtures. Everything here is real: SQLite files in tmp dirs, servers on 127.0.0.1."""
from __future__ import annotations

import os
import uuid
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def es_url() -> str:
    url = os.environ.get("YUQING_TEST_ES_URL", "")
    if not url:
        pytest.skip("no Elasticsearch node: start one with `tests/elasticsearch/node start` "
                    "and set YUQING_TEST_ES_URL (.ci/run does both)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request, tmp_path):
    """Each backend behind the one storage seam, fresh and empty; the contract suite runs on both."""
    if request.param == "sqlite":
        from yuqing.storage.sqlite import SqliteStore

        s = SqliteStore(tmp_path / "store.db", tz=SHANGHAI)
        yield s
        s.close()
        return
    url = es_url()
    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    cfg = ElasticsearchConfig(url=url, index_prefix=f"test-{uuid.uuid4().hex[:8]}")
    s = ElasticsearchStore(cfg, tz=SHANGHAI, refresh=True)
    s.setup()
    yield s
    s.drop()
    s.close()
