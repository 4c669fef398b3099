"""`yuqing status`: what an operator checks first — is every source being crawled, is anything
waiting in a spool, what is stored, which alerts went out."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from yuqing.config import Config
from yuqing.query import parse
from yuqing.storage import SearchRequest, opened

ALERT_DAYS = 7


def _pending(folder: Path) -> int:
    """Records waiting in a spool folder (one per line of its .jsonl files, or one per file)."""
    count = 0
    for path in folder.glob("**/*") if folder.is_dir() else []:
        if path.is_file():
            count += sum(1 for line in path.open(encoding="utf-8", errors="replace") if line.strip()) \
                if path.suffix == ".jsonl" else 1
    return count


def _health(config: Config, name: str) -> dict[str, Any]:
    path = config.data_dir / "health" / f"{name}.json"
    if not path.exists():
        return {"state": "never crawled"}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        return {"state": f"health file {path} unreadable: {e}"}
    ok = data.get("reachable", False) and not data.get("errors")
    return {"state": data.get("state") or ("ok" if ok else "failing"), **{k: data.get(k) for k in (
        "state_reason", "state_url", "last_success", "finished_at", "scraped", "stored", "filtered", "rejected",
        "errors")}}


def collect(config: Config, now: datetime | None = None) -> dict[str, Any]:
    from yuqing import alertstore
    from yuqing.alertstore.model import AlertQuery

    now = now or datetime.now(config.tz)
    with opened(config) as store:
        everything = store.search(SearchRequest(query=parse(""), limit=1))
        negative_24h = store.search(SearchRequest(query=parse(""), polarity="negative", limit=0,
                                                  since=now - timedelta(days=1))).total
    newest = everything.hits[0].mention.published_at if everything.hits else None
    with alertstore.opened(config) as alert_store:
        alerts = alert_store.list_alerts(AlertQuery(since=now - timedelta(days=ALERT_DAYS), limit=1000))
        pending_notices = alert_store.count_pending()
    spool = {kind: _pending(config.data_dir / "spool" / kind) for kind in ("mentions", "digests")}
    return {
        "config": config.path,
        "data_dir": str(config.data_dir),
        "store": {"backend": config.store.backend, "mentions": everything.total,
                  "newest": newest.isoformat() if newest else None, "negative_last_24h": negative_24h},
        "sources": {s.name: {"type": s.type, **_health(config, s.name)} for s in config.sources},
        "spool": {"mentions": spool["mentions"], "alerts": pending_notices, "digests": spool["digests"]},
        "alerts_last_7_days": [a.summary() for a in sorted(alerts, key=lambda a: a.started_at)],
    }


def render(status: dict[str, Any]) -> str:
    store = status["store"]
    lines = [f"config: {status['config']}", f"data dir: {status['data_dir']}",
             f"store ({store['backend']}): {store['mentions']} mention(s), newest {store['newest'] or '-'}, "
             f"{store['negative_last_24h']} negative in the last 24 h"]
    lines.append(f"sources ({len(status['sources'])}):" if status["sources"] else "sources: none configured")
    for name, h in status["sources"].items():
        detail = f"last success {h.get('last_success') or 'never'}" if h["state"] != "never crawled" else ""
        errors = "; ".join(h.get("errors") or [])
        lines.append(f"  {name} [{h['type']}]: {h['state']}" + (f", {detail}" if detail else "")
                     + (f" — {errors}" if errors else ""))
    spool = status["spool"]
    lines.append(f"spool: {spool['mentions']} mention(s), {spool['alerts']} alert(s), {spool['digests']} digest(s) "
                 "waiting to be delivered")
    lines.append(f"alerts in the last {ALERT_DAYS} days: {len(status['alerts_last_7_days'])}")
    lines.extend(f"  {a}" for a in status["alerts_last_7_days"][-5:])
    return "\n".join(lines)
