"""Alert state behind one seam (`yuqing.alertstore.base.AlertStore`), on the configured backend:
tables in the SQLite file of the mentions, or an index on the same Elasticsearch cluster."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from yuqing.alertstore.base import AlertStore, Conflict
from yuqing.alertstore.legacy import migrate_json_state
from yuqing.config import Config

__all__ = ["AlertStore", "Conflict", "open_alert_store", "opened"]


def open_alert_store(config: Config) -> AlertStore:
    """Build the configured backend once; pass it to the alert check, the digest, the CLI and the
    web app. Alert state left in JSON files by an older yuqing is moved into it on first start."""
    store: AlertStore
    if config.store.backend == "elasticsearch":
        from yuqing.alertstore.elasticsearch import ElasticsearchAlertStore

        store = ElasticsearchAlertStore(config.store.elasticsearch)
    else:
        from yuqing.alertstore.sqlite import SqliteAlertStore

        store = SqliteAlertStore(config.sqlite_path)
    try:
        migrate_json_state(config.data_dir, store)
    except BaseException:
        store.close()
        raise
    return store


@contextmanager
def opened(config: Config) -> Iterator[AlertStore]:
    """The configured alert store for one piece of work (a command, a job), closed afterwards."""
    store = open_alert_store(config)
    try:
        yield store
    finally:
        store.close()
