"""Shared fixtures. Everything here is real: SQLite files in tmp dirs, servers on 127.0.0.1."""
from __future__ import annotations

import os
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def es_url() -> str:
    url = os.environ.get("YUQING_TEST_ES_URL", "")
    if not url:
        pytest.skip("no Elasticsearch node: start one with `tests/elasticsearch/node start` "
                    "and set YUQING_TEST_ES_URL (.ci/run does both)")
    return url


def open_test_store(backend: str, where: str, refresh: bool = False) -> Any:
    """A store of `backend` at `where` (a SQLite file, or `URL PREFIX` on Elasticsearch); also used
    by the writer processes of the contract suite, so every process opens it the same way."""
    if backend == "sqlite":
        from yuqing.storage.sqlite import SqliteStore

        return SqliteStore(where, tz=SHANGHAI)
    from yuqing.config import ElasticsearchConfig
    from yuqing.storage.elasticsearch import ElasticsearchStore

    url, prefix = where.split(" ")
    return ElasticsearchStore(ElasticsearchConfig(url=url, index_prefix=prefix), tz=SHANGHAI, refresh=refresh)


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store_location(request, tmp_path) -> tuple[str, str]:
    """(backend, where) of a fresh, empty store; the contract suite runs on both backends."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "store.db")
    return "elasticsearch", f"{es_url()} test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(store_location):
    """Each backend behind the one storage seam, fresh and empty."""
    backend, where = store_location
    s = open_test_store(backend, where, refresh=True)
    s.setup()
    yield s
    if backend == "elasticsearch":
        cleanup = open_test_store(backend, where)
        cleanup.drop()
        cleanup.close()
    s.close()


def crawl(config_path: str, data_dir: str, sources: list[str] | None = None, timeout: float | None = None, *,
          settings: dict[str, Any] | None = None) -> Any:
    """A crawl as `yuqing crawl` runs it: this process's Services from the file, then the crawl child."""
    from app.crawl import crawl as launch
    from app.services import Services

    with Services.load(config_path, data_dir) as services:
        return launch(services, sources, timeout, settings=settings)
@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def site(request, tmp_path):
    """The web app over either backend: a SQLite file, or an index on the real Elasticsearch node."""
    from tests.web_support import start_site

    s = start_site(tmp_path, request.param)
    yield s
    s.close()


@pytest.fixture
def sqlite_site(tmp_path):
    """The web app running over a SQLite store with sample mentions and users (tests/web_support.py)."""
    from tests.web_support import start_site

    site = start_site(tmp_path, "sqlite")
    yield site
    site.close()
