"""Storage backends behind one seam (`yuqing.storage.base.Store`)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from yuqing.config import Config
from yuqing.storage.base import Hit, IndexReport, SearchRequest, SearchResult, Store, StoreError

__all__ = ["Hit", "IndexReport", "SearchRequest", "SearchResult", "Store", "StoreError", "open_store", "opened"]


def open_store(config: Config) -> Store:
    """Build the configured backend once; pass it to the pipeline, jobs, CLI and web app."""
    if config.store.backend == "elasticsearch":
        from yuqing.storage.elasticsearch import ElasticsearchStore

        return ElasticsearchStore(config.store.elasticsearch, tz=config.tz)
    from yuqing.storage.sqlite import SqliteStore

    return SqliteStore(config.sqlite_path, tz=config.tz)


@contextmanager
def opened(config: Config) -> Iterator[Store]:
    """The configured store for one piece of work (a command, a job), closed afterwards."""
    store = open_store(config)
    try:
        yield store
    finally:
        store.close()
