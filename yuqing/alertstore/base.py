"""The alert-store seam: alert state behind one small interface, like `yuqing.storage.Store`.

Two implementations: tables in the SQLite file of the mentions (`SqliteAlertStore`) and an index
on Elasticsearch (`ElasticsearchAlertStore`). Built once from config (`yuqing.alertstore.
open_alert_store`) and passed to the alert check, the digest, the CLI and the web app; the same
contract suite (`tests/test_alert_store.py`) runs on both. Safe for several processes: an alert
carries a version and a write from a stale copy raises `Conflict` instead of overwriting.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from yuqing.alertstore.model import AlertQuery, AlertRecord, Case, CaseQuery, Delivery, Silence
from yuqing.storage.base import StoreError


class Conflict(StoreError):
    """Another process changed the alert since it was read: read it again and redo the change."""


class AlertStore(Protocol):
    def setup(self) -> list[str]:
        """Create what the store needs (idempotent); one line per thing created or unchanged."""
        ...

    # -- alerts --------------------------------------------------------------------------------
    def put_alert(self, record: AlertRecord) -> AlertRecord:
        """Create or update. `record.version` must be the stored version (0 for a new alert);
        returns the record with its new version. Raises `Conflict` otherwise."""
        ...

    def get_alert(self, alert_id: str) -> AlertRecord | None: ...

    def list_alerts(self, query: AlertQuery) -> list[AlertRecord]: ...

    # -- deliveries ----------------------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> bool:
        """Record a notice to send; False (and nothing changed) when its key is already there."""
        ...

    def put_delivery(self, delivery: Delivery) -> None:
        """Save an attempt's outcome (state, attempts, last error, due time)."""
        ...

    def deliveries(self, alert_id: str | None = None, pending_due: datetime | None = None) -> list[Delivery]:
        """The deliveries of one alert (oldest first), or with `pending_due` every pending one due
        by then. A damaged record is reported in the log and left in place."""
        ...

    def count_pending(self) -> int: ...

    # -- per-rule state ------------------------------------------------------------------------
    def get_rule_state(self, rule: str, institution: str) -> dict[str, Any]: ...

    def put_rule_state(self, rule: str, institution: str, state: dict[str, Any]) -> None: ...

    # -- silences ------------------------------------------------------------------------------
    def put_silence(self, silence: Silence) -> None: ...

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or those in force at `active_at`; soonest to end first."""
        ...

    def delete_silence(self, silence_id: str) -> bool: ...

    # -- cases ---------------------------------------------------------------------------------
    def put_case(self, case: Case) -> Case:
        """Create or update, versioned like `put_alert` (0 for a new case); raises `Conflict`."""
        ...

    def get_case(self, case_id: str) -> Case | None: ...

    def list_cases(self, query: CaseQuery) -> list[Case]: ...

    def close(self) -> None: ...


__all__ = ["AlertStore", "Conflict", "StoreError"]
