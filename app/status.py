"""`yuqing status`: what an operator checks first — is every source being crawled, is anything
waiting in a spool, what is stored, which alerts went out."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.services import Services
from yuqing.datadir import NOT_WORKING, SPOOL_KINDS
from yuqing.query import parse
from yuqing.storage import SearchRequest
from yuqing.storage.base import StoreError

ALERT_DAYS = 7
NEVER = "never crawled"


def _pending(folder: Path) -> int:
    """Records waiting in a spool folder (one per line of its .jsonl files, or one per file)."""
    count = 0
    for path in folder.glob("**/*") if folder.is_dir() else []:
        if path.is_file():
            count += sum(1 for line in path.open(encoding="utf-8", errors="replace") if line.strip()) \
                if path.suffix == ".jsonl" else 1
    return count


def source_health(services: Services, name: str) -> dict[str, Any]:
    """A source's last crawl as its health record tells it; `state` is `never crawled` before the first."""
    record = services.data.read_health(name)
    if record is None:
        return {"state": NEVER}
    return {k: v for k, v in record.to_dict().items() if k not in ("name", "type")}


def _store(services: Services, now: datetime) -> dict[str, Any]:
    """The store's figures, or why it cannot be reached: the rest of the status is local files
    and is shown either way."""
    backend = services.config.store.backend
    try:
        store = services.store
        everything = store.search(SearchRequest(query=parse(""), limit=1))
        negative_24h = store.search(SearchRequest(query=parse(""), polarity="negative", limit=0,
                                                  since=now - timedelta(days=1))).total
    except StoreError as e:
        return {"backend": backend, "mentions": None, "newest": None, "negative_last_24h": None,
                "unreachable": str(e)}
    newest = everything.hits[0].mention.published_at if everything.hits else None
    return {"backend": backend, "mentions": everything.total, "newest": newest.isoformat() if newest else None,
            "negative_last_24h": negative_24h}


def collect(services: Services, now: datetime | None = None) -> dict[str, Any]:
    from nlp.analyzer import AnalyzerSettings
    from nlp.provenance import describe
    from yuqing.alertstore.model import AlertQuery

    config = services.config
    now = now or datetime.now(config.tz)
    # the alert store lives in the store's backend: unreachable with it, or its index not set up
    # (Elasticsearch) while the mentions' is; either way the local files still show
    alert_state: dict[str, Any] = {"backend": config.store.backend}
    try:
        alerts = services.alert_store.list_alerts(AlertQuery(since=now - timedelta(days=ALERT_DAYS), limit=1000))
        pending: int | None = services.alert_store.count_pending()
    except StoreError as e:
        alerts, pending = [], None
        alert_state["unreachable"] = str(e)
    # alert notices wait in the alert store, the rest in spool folders
    spool = {kind: pending if kind == "alerts" else _pending(services.data.spool(kind)) for kind in SPOOL_KINDS}
    return {
        "config": config.path,
        "data_dir": str(config.data_dir),
        "store": _store(services, now),
        "alert_store": alert_state,
        "sources": {s.name: {"type": s.type, **source_health(services, s.name)} for s in config.sources},
        "spool": spool,
        "alerts_last_7_days": [a.summary() for a in sorted(alerts, key=lambda a: a.started_at)],
        "model": describe(AnalyzerSettings.parse(config.nlp).model),
    }


def not_working(status: dict[str, Any]) -> list[str]:
    """Sources whose last crawl delivered nothing (failing, blocked, login-required), and the store
    or the alert state when it cannot be reached."""
    stores = [key for key in ("store", "alert_store") if status[key].get("unreachable")]
    return stores + [name for name, h in status["sources"].items() if h["state"] in NOT_WORKING]


def render(status: dict[str, Any]) -> str:
    from nlp.provenance import summary

    store = status["store"]
    lines = [f"config: {status['config']}", f"data dir: {status['data_dir']}",
             f"store ({store['backend']}): UNREACHABLE — {store['unreachable']}" if store.get("unreachable") else
             f"store ({store['backend']}): {store['mentions']} mention(s), newest {store['newest'] or '-'}, "
             f"{store['negative_last_24h']} negative in the last 24 h"]
    lines.append(f"sources ({len(status['sources'])}):" if status["sources"] else "sources: none configured")
    for name, h in status["sources"].items():
        detail = f"last success {h.get('last_success') or 'never'}" if h["state"] != NEVER else ""
        why = h.get("state_reason") or ""
        where = f" at {h['state_url']}" if h.get("state_url") else ""
        errors = "; ".join(e for e in h.get("errors") or [] if e != why)
        lines.append(f"  {name} [{h['type']}]: {h['state']}" + (f", {detail}" if detail else "")
                     + (f" — {why}{where}" if why else "") + (f" — {errors}" if errors else ""))
    spool = status["spool"]
    alert_state = status["alert_store"]
    pending = "an unknown number of" if spool["alerts"] is None else spool["alerts"]
    lines.append(f"spool: {spool['mentions']} mention(s), {pending} alert(s), {spool['digests']} digest(s) "
                 "waiting to be delivered")
    if alert_state.get("unreachable"):
        lines.append(f"alert state ({alert_state['backend']}): UNAVAILABLE — {alert_state['unreachable']}")
    else:
        lines.append(f"alerts in the last {ALERT_DAYS} days: {len(status['alerts_last_7_days'])}")
    lines.extend(f"  {a}" for a in status["alerts_last_7_days"][-5:])
    lines.extend(summary(status["model"]))
    return "\n".join(lines)
