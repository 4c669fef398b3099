"""Getting alerts out without losing any.

Write-ahead: before a channel is tried, the (alert, channel) pair is written to the spool
(DATA_DIR/spool/alerts/). A delivery removes its spool file; a failure (after a few quick retries)
leaves it there, logged with what and where, and the next check tries again. A crash between
raising and sending therefore loses nothing either.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from alerts.channels import Channel, DeliveryError
from alerts.model import Alert
from yuqing.datadir import write_json

log = logging.getLogger("yuqing.alerts")


@dataclass
class SpoolEntry:
    path: Path
    channel: str
    alert: Alert
    attempts: int = 0
    last_error: str = ""


class Spool:
    """One JSON file per undelivered (alert, channel)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, alert: Alert, channel: str) -> SpoolEntry:
        safe = re.sub(r"[^\w.-]", "_", channel)
        path = self.directory / f"{alert.created_at:%Y%m%dT%H%M%S}-{alert.id}-{safe}.json"
        entry = SpoolEntry(path, channel, alert)
        self.save(entry)
        return entry

    def save(self, entry: SpoolEntry) -> None:
        write_json(entry.path, {"channel": entry.channel, "attempts": entry.attempts,
                                "last_error": entry.last_error, "alert": entry.alert.to_dict()})

    def pending(self) -> list[SpoolEntry]:
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                out.append(SpoolEntry(path, data["channel"], Alert.from_dict(data["alert"]),
                                      int(data.get("attempts", 0)), data.get("last_error", "")))
            except (OSError, ValueError, KeyError, TypeError) as e:
                # keep the file for a human: deleting it would lose an alert
                log.error("unreadable spooled alert %s (%s: %s); left in place", path, type(e).__name__, e)
        return out


class Deliverer:
    """Sends spooled entries through their channels with quick retries."""

    def __init__(self, channels: Mapping[str, Channel], spool: Spool, retry_delays: Sequence[float]) -> None:
        self.channels, self.spool, self.retry_delays = channels, spool, tuple(retry_delays)

    def _try(self, channel: Channel, alert: Alert) -> str:
        """'' when delivered, else the last error."""
        error = ""
        for pause in (None, *self.retry_delays):
            if pause:
                time.sleep(pause)
            try:
                channel.send(alert)
                return ""
            except DeliveryError as e:
                error = str(e)
                log.warning("alert %s: %s", alert.id, error)
        return error

    def flush(self) -> tuple[int, int]:
        """Try every spooled entry once (with retries). Returns (delivered, still pending).
        A channel that failed in this flush is not tried again until the next one, so a dead
        server costs one round of retries, not one per queued alert."""
        delivered = pending = 0
        down: set[str] = set()
        for entry in self.spool.pending():
            channel = self.channels.get(entry.channel)
            if channel is None:
                log.error("spooled alert %s is for channel %r, which is no longer configured; kept in %s",
                          entry.alert.id, entry.channel, entry.path)
                pending += 1
                continue
            if entry.channel in down:
                pending += 1
                continue
            error = self._try(channel, entry.alert)
            if not error:
                entry.path.unlink(missing_ok=True)
                delivered += 1
                log.info("alert %s delivered to %s after %d earlier attempt(s)", entry.alert.id, entry.channel,
                         entry.attempts)
                continue
            down.add(entry.channel)
            entry.attempts += 1
            entry.last_error = error
            self.spool.save(entry)
            pending += 1
            log.error("alert %s (%s) not delivered to channel %r: %s; spooled at %s, retried at the next check",
                      entry.alert.id, entry.alert.summary(), entry.channel, error, entry.path)
        return delivered, pending
