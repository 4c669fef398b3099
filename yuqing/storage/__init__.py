"""Storage backends behind one seam (`yuqing.storage.base.Store`)."""
from __future__ import annotations

from yuqing.config import Config
from yuqing.storage.base import (
    CursorError,
    FacetRequest,
    Facets,
    Hit,
    IndexReport,
    SearchRequest,
    SearchResult,
    Store,
    StoreError,
    TimeBucket,
)

__all__ = ["CursorError", "FacetRequest", "Facets", "Hit", "IndexReport", "SearchRequest", "SearchResult", "Store",
           "StoreError", "TimeBucket", "open_store"]


def open_store(config: Config) -> Store:
    """Build the configured backend. The application layer's `Services` calls this once per
    process and passes the store to the pipeline, jobs, CLI and web app."""
    if config.store.backend == "elasticsearch":
        from yuqing.storage.elasticsearch import ElasticsearchStore

        return ElasticsearchStore(config.store.elasticsearch, tz=config.tz)
    from yuqing.storage.sqlite import SqliteStore

    return SqliteStore(config.sqlite_path, tz=config.tz)
