"""What the scheduler did: one row per job run (when it was due, when it finished, its error), kept
in a table of `DATA_DIR/scheduler.db` beside APScheduler's own job store, and the lock that lets
one `yuqing run` at a time use a data dir. `yuqing jobs` reads both."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from yuqing.datadir import Held, PidLock

SCHEMA = """CREATE TABLE IF NOT EXISTS yuqing_job_runs (
    job_id TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
)"""
OUTCOMES = ("ok", "failed", "missed")


class AlreadyRunning(RuntimeError):
    """Another `yuqing run` holds the data dir's scheduler lock."""


@dataclass(frozen=True)
class JobRun:
    job_id: str
    scheduled_at: datetime  # when it was due (a missed run that runs late shows how late)
    finished_at: datetime
    outcome: str  # ok | failed | missed
    error: str = ""


class JobLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(SCHEMA)
        return db

    def record(self, run: JobRun) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO yuqing_job_runs VALUES (?, ?, ?, ?, ?)",
                       (run.job_id, run.scheduled_at.isoformat(), run.finished_at.isoformat(), run.outcome, run.error))

    def runs(self, limit: int = 50) -> list[JobRun]:
        """The latest runs, newest first."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT * FROM yuqing_job_runs ORDER BY finished_at DESC, rowid DESC LIMIT ?",
                              (limit,)).fetchall()
        return [JobRun(job, datetime.fromisoformat(due), datetime.fromisoformat(done), outcome, error)
                for job, due, done, outcome, error in rows]


class SchedulerLock(PidLock):
    """One scheduler per data dir: a second `yuqing run` would run every job twice."""

    def acquire(self) -> None:
        try:
            super().acquire()
        except Held as e:
            raise AlreadyRunning(f"another `yuqing run` (pid {e.pid}) is using {self.path.parent}; stop it first, "
                                 "or give this one its own --data-dir") from None


__all__ = ["OUTCOMES", "AlreadyRunning", "JobLog", "JobRun", "SchedulerLock"]
