"""Alert state as tables in the SQLite file of the mentions (WAL): one connection per process,
writes in short `BEGIN IMMEDIATE` transactions, so the scheduler, `yuqing alerts ack` and the web
app can share the file. Each table keeps the record as JSON plus the columns queries filter on."""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from yuqing.alertstore.base import Conflict
from yuqing.alertstore.model import AlertQuery, AlertRecord, Case, CaseQuery, Delivery, Silence
from yuqing.storage.base import StoreError
from yuqing.storage.sqlite import connect, migrate

log = logging.getLogger("yuqing.alerts")
SCHEMA_KEY = "alerts_schema_version"
# Each entry upgrades the alert tables by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        rule TEXT NOT NULL,
        institution TEXT NOT NULL,
        state TEXT NOT NULL,
        started_ts REAL NOT NULL,
        updated_ts REAL NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX alerts_group ON alerts (rule, institution, state);
    CREATE INDEX alerts_updated ON alerts (updated_ts);
    CREATE TABLE alert_deliveries (
        key TEXT PRIMARY KEY,
        alert_id TEXT NOT NULL,
        state TEXT NOT NULL,
        due_ts REAL NOT NULL,
        created_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX alert_deliveries_pending ON alert_deliveries (state, due_ts);
    CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, created_ts);
    CREATE TABLE alert_rule_state (
        rule TEXT NOT NULL,
        institution TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (rule, institution)
    );
    CREATE TABLE alert_silences (
        id TEXT PRIMARY KEY,
        start_ts REAL NOT NULL,
        until_ts REAL NOT NULL,
        doc TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        mention_id TEXT NOT NULL,
        institution TEXT NOT NULL,
        status TEXT NOT NULL,
        handler TEXT NOT NULL,
        opened_ts REAL NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX cases_status ON cases (status, opened_ts);
    CREATE INDEX cases_mention ON cases (mention_id);
    """,
    # alerts about a source (silence) are grouped by it; their `institution` is empty
    """
    ALTER TABLE alerts ADD COLUMN source TEXT NOT NULL DEFAULT '';
    CREATE INDEX alerts_source ON alerts (rule, source, state);
    """,
)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, allow_nan=False)


class SqliteAlertStore:
    """`AlertStore` on a SQLite file (usually the mentions' `yuqing.db`). Safe to share between
    threads; several processes may open the same file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        try:
            db = connect(self.path, busy_timeout=30)
            db.execute("PRAGMA synchronous = NORMAL")
            migrate(db, self.path, MIGRATIONS, SCHEMA_KEY)
            self._db = db
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the alert tables in {self.path}: {e}") from e

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise StoreError(f"cannot {what}: the alert store {self.path} is closed")
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"cannot {what} in {self.path}: {e}") from e
                raise

    def _rows(self, what: str, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._db is None:
                raise StoreError(f"cannot {what}: the alert store {self.path} is closed")
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise StoreError(f"cannot {what} in {self.path}: {e}") from e

    def setup(self) -> list[str]:
        return [f"unchanged: alert tables in {self.path} (created when first opened)"]

    # -- alerts --------------------------------------------------------------------------------

    def put_alert(self, record: AlertRecord) -> AlertRecord:
        saved = AlertRecord.from_dict({**record.to_dict(), "version": record.version + 1})
        values = (saved.rule, saved.institution, saved.source, saved.state, saved.started_at.timestamp(),
                  saved.updated_at.timestamp(), saved.version, _json(saved.to_dict()))
        with self._transaction(f"save alert {record.id}") as db:
            if record.version == 0:
                changed = db.execute("INSERT OR IGNORE INTO alerts (rule, institution, source, state, started_ts, "
                                     "updated_ts, version, doc, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                     (*values, record.id)).rowcount
            else:
                changed = db.execute("UPDATE alerts SET rule = ?, institution = ?, source = ?, state = ?, "
                                     "started_ts = ?, updated_ts = ?, version = ?, doc = ? "
                                     "WHERE id = ? AND version = ?",
                                     (*values, record.id, record.version)).rowcount
            if not changed:
                raise Conflict(f"alert {record.id} was changed by another process since version {record.version}")
        return saved

    def _record(self, doc: str) -> AlertRecord | None:
        try:
            return AlertRecord.from_dict(json.loads(doc))
        except (ValueError, KeyError, TypeError) as e:
            log.error("%s: an alert record is damaged (%s: %s); left in place", self.path, type(e).__name__, e)
            return None

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        rows = self._rows(f"read alert {alert_id}", "SELECT doc FROM alerts WHERE id = ?", (alert_id,))
        return self._record(rows[0][0]) if rows else None

    def list_alerts(self, query: AlertQuery) -> list[AlertRecord]:
        clauses, params = ["1 = 1"], []  # type: tuple[list[str], list[Any]]
        for column, value in (("institution", query.institution), ("rule", query.rule), ("source", query.source)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.states:
            clauses.append(f"state IN ({', '.join('?' * len(query.states))})")
            params.extend(query.states)
        if query.until is not None:
            clauses.append("started_ts < ?")
            params.append(query.until.timestamp())
        if query.since is not None:
            clauses.append("updated_ts >= ?")
            params.append(query.since.timestamp())
        rows = self._rows("list alerts", f"SELECT doc FROM alerts WHERE {' AND '.join(clauses)} "
                          "ORDER BY updated_ts DESC, id LIMIT ?", [*params, query.limit])
        return [r for r in (self._record(doc) for doc, in rows) if r is not None]

    # -- deliveries ----------------------------------------------------------------------------

    def _delivery_values(self, d: Delivery) -> tuple[Any, ...]:
        return (d.alert_id, d.state, d.due_at.timestamp(), d.created_at.timestamp(), _json(d.to_dict()), d.key)

    def add_delivery(self, delivery: Delivery) -> bool:
        with self._transaction(f"record notice {delivery.key}") as db:
            return bool(db.execute("INSERT OR IGNORE INTO alert_deliveries (alert_id, state, due_ts, created_ts, doc, "
                                   "key) VALUES (?, ?, ?, ?, ?, ?)", self._delivery_values(delivery)).rowcount)

    def put_delivery(self, delivery: Delivery) -> None:
        with self._transaction(f"save notice {delivery.key}") as db:
            db.execute("INSERT OR REPLACE INTO alert_deliveries (alert_id, state, due_ts, created_ts, doc, key) "
                       "VALUES (?, ?, ?, ?, ?, ?)", self._delivery_values(delivery))

    def deliveries(self, alert_id: str | None = None, pending_due: datetime | None = None) -> list[Delivery]:
        if alert_id is not None:
            rows = self._rows("read notices", "SELECT key, doc FROM alert_deliveries WHERE alert_id = ? "
                              "ORDER BY created_ts, key", (alert_id,))
        else:
            due = pending_due.timestamp() if pending_due is not None else float("inf")
            rows = self._rows("read pending notices", "SELECT key, doc FROM alert_deliveries WHERE state = 'pending' "
                              "AND due_ts <= ? ORDER BY created_ts, key", (due,))
        out = []
        for key, doc in rows:
            try:
                out.append(Delivery.from_dict(json.loads(doc)))
            except (ValueError, KeyError, TypeError) as e:
                # kept for a human: deleting it would lose a notice
                log.error("%s: notice %s is damaged (%s: %s); left in place", self.path, key, type(e).__name__, e)
        return out

    def count_pending(self) -> int:
        return int(self._rows("count pending notices",
                              "SELECT COUNT(*) FROM alert_deliveries WHERE state = 'pending'")[0][0])

    # -- per-rule state ------------------------------------------------------------------------

    def get_rule_state(self, rule: str, institution: str) -> dict[str, Any]:
        rows = self._rows("read rule state", "SELECT doc FROM alert_rule_state WHERE rule = ? AND institution = ?",
                          (rule, institution))
        return dict(json.loads(rows[0][0])) if rows else {}

    def put_rule_state(self, rule: str, institution: str, state: dict[str, Any]) -> None:
        with self._transaction(f"save the state of rule {rule}") as db:
            db.execute("INSERT OR REPLACE INTO alert_rule_state VALUES (?, ?, ?)", (rule, institution, _json(state)))

    # -- silences ------------------------------------------------------------------------------

    def put_silence(self, silence: Silence) -> None:
        with self._transaction(f"save silence {silence.id}") as db:
            db.execute("INSERT OR REPLACE INTO alert_silences VALUES (?, ?, ?, ?)",
                       (silence.id, silence.created_at.timestamp(), silence.until.timestamp(),
                        _json(silence.to_dict())))

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        if active_at is None:
            rows = self._rows("read silences", "SELECT doc FROM alert_silences ORDER BY until_ts, id")
        else:
            at = active_at.timestamp()
            rows = self._rows("read silences", "SELECT doc FROM alert_silences WHERE start_ts <= ? AND until_ts > ? "
                              "ORDER BY until_ts, id", (at, at))
        return [Silence.from_dict(json.loads(doc)) for doc, in rows]

    def delete_silence(self, silence_id: str) -> bool:
        with self._transaction(f"delete silence {silence_id}") as db:
            return bool(db.execute("DELETE FROM alert_silences WHERE id = ?", (silence_id,)).rowcount)

    # -- cases ---------------------------------------------------------------------------------

    def put_case(self, case: Case) -> Case:
        saved = Case.from_dict({**case.to_dict(), "version": case.version + 1})
        values = (saved.mention_id, saved.institution, saved.status, saved.handler, saved.opened_at.timestamp(),
                  saved.version, _json(saved.to_dict()), case.id)
        with self._transaction(f"save case {case.id}") as db:
            if case.version == 0:
                changed = db.execute("INSERT OR IGNORE INTO cases (mention_id, institution, status, handler, "
                                     "opened_ts, version, doc, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values).rowcount
            else:
                changed = db.execute("UPDATE cases SET mention_id = ?, institution = ?, status = ?, handler = ?, "
                                     "opened_ts = ?, version = ?, doc = ? WHERE id = ? AND version = ?",
                                     (*values, case.version)).rowcount
            if not changed:
                raise Conflict(f"case {case.id} was changed by someone else since version {case.version}")
        return saved

    def get_case(self, case_id: str) -> Case | None:
        rows = self._rows(f"read case {case_id}", "SELECT doc FROM cases WHERE id = ?", (case_id,))
        return Case.from_dict(json.loads(rows[0][0])) if rows else None

    def list_cases(self, query: CaseQuery) -> list[Case]:
        clauses, params = ["1 = 1"], []  # type: tuple[list[str], list[Any]]
        for column, value in (("handler", query.handler), ("mention_id", query.mention_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        # no statuses: any; institutions None: any, () (a user limited to none): nothing
        for column, values in (("status", query.statuses or None), ("institution", query.institutions)):
            if values is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        rows = self._rows("list cases", f"SELECT doc FROM cases WHERE {' AND '.join(clauses)} "
                          "ORDER BY opened_ts DESC, id LIMIT ?", [*params, query.limit])
        return [Case.from_dict(json.loads(doc)) for doc, in rows]

    def snapshot(self) -> tuple[list[AlertRecord], list[Delivery], list[tuple[str, str, dict[str, Any]]],
                                list[Silence]]:
        """Everything kept here (alerts, deliveries, per-rule state, silences), for `yuqing migrate`."""
        alerts = [r for r in (self._record(doc) for doc, in self._rows("read alerts", "SELECT doc FROM alerts "
                                                                      "ORDER BY id")) if r is not None]
        deliveries = [Delivery.from_dict(json.loads(doc)) for doc, in self._rows(
            "read notices", "SELECT doc FROM alert_deliveries ORDER BY created_ts, key")]
        states = [(rule, institution, dict(json.loads(doc))) for rule, institution, doc in self._rows(
            "read rule state", "SELECT rule, institution, doc FROM alert_rule_state ORDER BY rule, institution")]
        return alerts, deliveries, states, self.silences()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


__all__ = ["MIGRATIONS", "SqliteAlertStore"]
