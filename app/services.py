"""The composition root: one `Services` per process, built from the validated config and passed
down to every command, job, crawl and (later) web request — as httpx builds one client around one
transport. Nothing below this layer builds a store or an analyser itself.

    with Services.load(config_path, data_dir) as services:
        services.store.search(...)            # opened on first use, closed with the services
        services.ingest.ingest(mentions, ...)   # the one way in (validate → analyse → relevance → store)
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Self

from app import settings
from yuqing.config import Config
from yuqing.datadir import DataDir

# The parts a command may not need are imported when first built: `yuqing search` loads neither
# the alert store nor the ingest path, `yuqing analyze` not the store.
if TYPE_CHECKING:
    from alerts import AlertSetup
    from nlp import Analyzer
    from yuqing.alertstore import AlertStore
    from yuqing.groups import Groups
    from yuqing.ingest import Ingest
    from yuqing.storage import Store


class Services:
    """Config, data dir, store, alert store, analyser, alert setup and the ingest path of one
    process. The stores and the analyser are built on first use (a `yuqing detect` needs neither), once, and shared
    by every thread; `close()` closes what was opened."""

    def __init__(self, config: Config, config_path: str | None = None, *, store: Store | None = None) -> None:
        """`store`, when given, is used instead of the configured one (as httpx takes a transport):
        a test's instrumented store, a store shared with a web app in the same process."""
        self.config = config
        # The file the config came from, for child processes (a crawl) that load it themselves.
        self.config_path = config_path if config_path is not None else (
            None if config.path.startswith("<") else config.path)
        self.data = DataDir(config.data_dir)
        self._lock = threading.RLock()
        self._store: Store | None = store
        self._analyzer: Analyzer | None = None
        self._ingest: Ingest | None = None
        self._groups: Groups | None = None
        self._alerts: AlertSetup | None = None
        self._alert_store: AlertStore | None = None

    @classmethod
    def load(cls, config_path: str | os.PathLike[str] | None = None,
             data_dir: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Self:
        """From the config file (or the defaults), validated once for every stage."""
        return cls(settings.load(config_path, data_dir, env), str(config_path) if config_path else None)

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from yuqing.storage import open_store

                self._store = open_store(self.config)
            return self._store

    @property
    def alert_store(self) -> AlertStore:
        """Alert state (alerts, deliveries, per-rule state, silences) on the configured backend."""
        with self._lock:
            if self._alert_store is None:
                from yuqing.alertstore import open_alert_store

                self._alert_store = open_alert_store(self.config)
            return self._alert_store

    @property
    def analyzer(self) -> Analyzer:
        with self._lock:
            if self._analyzer is None:
                from nlp import Analyzer  # the models load on first use: `yuqing search` never needs them

                self._analyzer = Analyzer(self.config.institutions, self.config.nlp)
            return self._analyzer

    @property
    def alerts(self) -> AlertSetup:
        with self._lock:
            if self._alerts is None:
                import alerts

                self._alerts = alerts.load(self.config)
            return self._alerts

    @property
    def ingest(self) -> Ingest:
        with self._lock:
            if self._ingest is None:
                from nlp.clusters import signature
                from yuqing.groups import Groups
                from yuqing.ingest import Ingest

                self._groups = Groups(self.data.groups_db, signature)
                self._ingest = Ingest(lambda: self.store, self.analyzer, self.config.institutions, self.data,
                                      self.config.tz, backend=self.config.store.backend, groups=self._groups)
            return self._ingest

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
            alert_store, self._alert_store = self._alert_store, None
            if self._groups is not None:
                self._groups.close()
        try:
            if store is not None:
                store.close()
        finally:
            if alert_store is not None:
                alert_store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # Scrapy deep-copies its settings for every crawler; the services are shared, not copied.
        return self


def load(config_path: str | None, data_dir: str | None) -> Services:
    """`crawlers.settings.YUQING_SERVICES_FACTORY`: the services of a plain `scrapy crawl`."""
    return Services.load(config_path, data_dir)
