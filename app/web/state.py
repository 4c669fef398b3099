"""The web app's own state: users, sessions, login failures, saved searches and the audit log.

It lives in its own SQLite file, `DATA_DIR/web.db`, whichever store holds the mentions: the
same code then serves the embedded store and Elasticsearch, users survive a change of backend,
and a few people logging in never compete with the crawler's writes to the mention store. It is
kept like the SQLite store (Datasette's habits): one connection guarded by a lock, WAL, schema
created idempotently and migrated by version. The file is created readable by its owner only:
it holds password hashes and the cookie-signing key.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from yuqing.storage import StoreError
from yuqing.storage.sqlite import connect, migrate

if TYPE_CHECKING:
    from app.services import Services

ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD_CHARS = 8
MAX_SAVED_NAME, MAX_SAVED_SEARCHES = 100, 200
_SAVED = "SELECT id, owner, name, params, created_at, alert FROM saved_searches"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        institutions TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user);
    CREATE TABLE login_failures (key TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX login_failures_key ON login_failures (key, at);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_at ON audit (at);
    """,
    "CREATE INDEX audit_target ON audit (target, id);",
    """
    CREATE TABLE saved_searches (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        params TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (owner, name)
    );
    """,
    # a saved search's alert: {"channels": [...], "severity": ..., "window": ...}; NULL when off
    "ALTER TABLE saved_searches ADD COLUMN alert TEXT;",
)


def state_path(services: Services) -> Path:
    """Where users, sessions and the audit log live: in the data dir, whatever the store backend."""
    return services.data.root / "web.db"


class UserError(ValueError):
    """A user operation that cannot be done as asked (unknown role, name taken, short password)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    institutions: tuple[str, ...] | None  # None: every institution
    disabled: bool = False

    def may(self, role: str) -> bool:
        """Whether this user has `role` or a higher one (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "disabled": self.disabled,
                "institutions": list(self.institutions) if self.institutions is not None else None}


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: float


def _hash_id(session_id: str) -> str:
    # only a hash is stored: a copy of the file does not hand out live sessions
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '-' or '@'")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    return password


class WebState:
    """Users, sessions, login failures and the audit log in one SQLite file. Safe to share between
    threads (the web server's worker threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._hasher = PasswordHasher()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._db = connect(self.path, busy_timeout=30)
            migrate(self._db, self.path, MIGRATIONS, "schema_version")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('cookie_secret', ?)", (secrets.token_hex(32),))
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the web app's state at {self.path}: {e}") from e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def cookie_secret(self) -> str:
        """The key that signs session cookies, made once per data dir (YUQING_WEB_SECRET overrides it)."""
        return os.environ.get("YUQING_WEB_SECRET") or str(
            self._db.execute("SELECT value FROM meta WHERE key = 'cookie_secret'").fetchone()[0])

    # -- audit ----------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str = "", **detail: object) -> None:
        with self._write() as db:
            self._audit(db, actor, action, target, detail)

    @staticmethod
    def _audit(db: sqlite3.Connection, actor: str, action: str, target: str, detail: dict[str, object]) -> None:
        db.execute("INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                   (time.time(), actor, action, target, json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def audit_log(self, limit: int = 200, target: str | None = None) -> list[dict[str, object]]:
        """Newest first; `target`: only the changes to that one thing (an alert, a case)."""
        where, params = ("WHERE target = ?", (target, limit)) if target is not None else ("", (limit,))
        with self._lock:
            rows = self._db.execute(f"SELECT at, actor, action, target, detail FROM audit {where} "
                                    "ORDER BY id DESC LIMIT ?", params).fetchall()
        return [{"at": at, "actor": actor, "action": action, "target": target, "detail": json.loads(detail)}
                for at, actor, action, target, detail in rows]

    # -- users ----------------------------------------------------------------------------------

    @staticmethod
    def _user(row: tuple[str, str, str | None, int]) -> User:
        name, role, institutions, disabled = row
        return User(name, role, tuple(json.loads(institutions)) if institutions is not None else None, bool(disabled))

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, institutions, disabled FROM users WHERE name = ?",
                                   (name,)).fetchone()
        return self._user(row) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, institutions, disabled FROM users ORDER BY name").fetchall()
        return [self._user(r) for r in rows]

    def add_user(self, actor: str, name: str, role: str, password: str,
                 institutions: tuple[str, ...] | None = None, replace: bool = False) -> User:
        """Create a user (or, with `replace`, reset an existing one). Audited as `actor`."""
        check_name(name), check_role(role), check_password(password)
        hashed = self._hasher.hash(password)
        stored = json.dumps(list(institutions), ensure_ascii=False) if institutions is not None else None
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise UserError(f"user {name!r} exists already")
            db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, 0, ?)",
                       (name, role, hashed, stored, time.time()))
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self._audit(db, actor, "user.reset" if exists else "user.add", name,
                        {"role": role, "institutions": list(institutions) if institutions is not None else None})
        return User(name, role, institutions)

    def update_user(self, actor: str, name: str, *, role: str | None = None,
                    institutions: tuple[str, ...] | None | bool = False, disabled: bool | None = None,
                    password: str | None = None) -> User:
        """Change some of a user's fields (`institutions=False` leaves them as they are); the user's
        sessions end, so a lowered role or a new password applies at once. Audited as `actor`."""
        changes: dict[str, object] = {}
        if role is not None:
            changes["role"] = check_role(role)
        if institutions is not False:
            assert institutions is None or isinstance(institutions, tuple)
            changes["institutions"] = json.dumps(list(institutions), ensure_ascii=False) \
                if institutions is not None else None
        if disabled is not None:
            changes["disabled"] = int(disabled)
        if password is not None:
            changes["password_hash"] = self._hasher.hash(check_password(password))
        with self._write() as db:
            if not db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserError(f"no user named {name!r}")
            for column, value in changes.items():
                db.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (value, name))
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            shown = {k: ("(changed)" if k == "password_hash" else v) for k, v in changes.items()}
            self._audit(db, actor, "user.update", name, shown)
        user = self.user(name)
        assert user is not None
        return user

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right and the account enabled, else None."""
        with self._lock:
            row = self._db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._hasher.hash(password)  # the same work as a real check: timing does not tell who exists
            return None
        try:
            self._hasher.verify(row[0], password)
        except (VerificationError, InvalidHashError):
            return None
        user = self.user(name)
        if user is None or user.disabled:
            return None
        if self._hasher.check_needs_rehash(row[0]):
            with self._write() as db:
                db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (self._hasher.hash(password), name))
        return user

    # -- saved searches (each user's own) -------------------------------------------------------

    def save_search(self, owner: str, name: str, params: dict[str, str]) -> dict[str, Any]:
        """Keep a search (`params`: the search page's URL parameters) under a name of the owner's."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_SAVED_NAME:
            raise UserError(f"a saved search needs a name of 1-{MAX_SAVED_NAME} characters")
        with self._write() as db:
            if db.execute("SELECT 1 FROM saved_searches WHERE owner = ? AND name = ?", (owner, name)).fetchone():
                raise UserError(f"{owner} has a saved search named {name!r} already")
            if db.execute("SELECT COUNT(*) FROM saved_searches WHERE owner = ?", (owner,)).fetchone()[0] \
                    >= MAX_SAVED_SEARCHES:
                raise UserError(f"{owner} has {MAX_SAVED_SEARCHES} saved searches; delete one first")
            cursor = db.execute("INSERT INTO saved_searches (owner, name, params, created_at) VALUES (?, ?, ?, ?)",
                                (owner, name, json.dumps(params, ensure_ascii=False, sort_keys=True), time.time()))
            self._audit(db, owner, "search.save", str(cursor.lastrowid), {"name": name, **params})
        return next(s for s in self.saved_searches(owner) if s["name"] == name)

    @staticmethod
    def _saved(row: tuple[Any, ...]) -> dict[str, Any]:
        i, owner, name, params, at, alert = row
        return {"id": i, "owner": owner, "name": name, "params": json.loads(params), "created_at": at,
                "alert": json.loads(alert) if alert is not None else None}

    def saved_searches(self, owner: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"{_SAVED} WHERE owner = ? ORDER BY name", (owner,)).fetchall()
        return [self._saved(r) for r in rows]

    def saved_search(self, owner: str, search_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(f"{_SAVED} WHERE id = ? AND owner = ?", (search_id, owner)).fetchone()
        return self._saved(row) if row else None

    def alerting_searches(self) -> list[tuple[User, dict[str, Any]]]:
        """Every saved search whose alert is on, with its owner; a disabled owner's alerts are off."""
        with self._lock:
            rows = self._db.execute(f"{_SAVED} WHERE alert IS NOT NULL ORDER BY id").fetchall()
        owners = {u.name: u for u in self.users() if not u.disabled}
        return [(owners[r[1]], self._saved(r)) for r in rows if r[1] in owners]

    def set_search_alert(self, owner: str, search_id: int, alert: dict[str, Any] | None) -> dict[str, Any] | None:
        """Turn a saved search's alert on (`alert`: its options) or off (None); the search, or None
        when the owner has no such search. Audited."""
        stored = json.dumps(alert, ensure_ascii=False, sort_keys=True) if alert is not None else None
        with self._write() as db:
            changed = db.execute("UPDATE saved_searches SET alert = ? WHERE id = ? AND owner = ?",
                                 (stored, search_id, owner)).rowcount
            if changed:
                self._audit(db, owner, "search.alert.on" if alert is not None else "search.alert.off",
                            str(search_id), alert or {})
        return self.saved_search(owner, search_id) if changed else None

    def delete_saved_search(self, owner: str, search_id: int) -> bool:
        with self._write() as db:
            deleted = db.execute("DELETE FROM saved_searches WHERE id = ? AND owner = ?", (search_id, owner)).rowcount
            if deleted:
                self._audit(db, owner, "search.delete", str(search_id), {})
        return bool(deleted)

    # -- login failures -------------------------------------------------------------------------

    def failures(self, keys: list[str], window_seconds: int) -> int:
        """The most failed logins any of `keys` (a user name, an address) had in the window."""
        since = time.time() - window_seconds
        with self._lock:
            return max((self._db.execute("SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?",
                                         (key, since)).fetchone()[0] for key in keys), default=0)

    def record_failure(self, keys: list[str], window_seconds: int) -> None:
        now = time.time()
        with self._write() as db:
            db.execute("DELETE FROM login_failures WHERE at < ?", (now - window_seconds,))
            db.executemany("INSERT INTO login_failures VALUES (?, ?)", [(key, now) for key in keys])

    # -- sessions -------------------------------------------------------------------------------

    def start_session(self, user: User, lifetime_seconds: int, address: str) -> tuple[str, Session]:
        """A new session for `user`: its secret id (for the cookie) and the session."""
        session_id, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                       (_hash_id(session_id), user.name, csrf, now, now + lifetime_seconds))
            self._audit(db, user.name, "login", user.name, {"address": address})
        return session_id, Session(user, csrf, now + lifetime_seconds)

    def session(self, session_id: str) -> Session | None:
        """The live session with this id; None when unknown, expired, or its user is disabled."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role, u.institutions, u.disabled, s.csrf, s.expires_at FROM sessions s "
                "JOIN users u ON u.name = s.user WHERE s.id_hash = ?", (_hash_id(session_id),)).fetchone()
        if row is None or row[5] < time.time() or row[3]:
            return None
        return Session(self._user(row[:4]), row[4], row[5])

    def end_session(self, session_id: str, actor: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (_hash_id(session_id),))
            self._audit(db, actor, "logout", actor, {})
