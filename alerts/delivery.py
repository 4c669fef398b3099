"""Getting notices out without losing any, and without sending one twice where it can be helped.

Write-ahead: a notice is recorded in the alert store as a pending delivery for each channel
(keyed by alert × channel × notice kind) before anything is sent. A delivery is marked delivered
once the channel took it; a failure (after a few quick retries) leaves it pending with the error
and a back-off (1 min, 2, 4, … up to 1 h) before the next try. A crash between sending and
marking means one repeat at most, carrying the same idempotency key, so the receiver can drop it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from alerts.channels import Channel, DeliveryError
from alerts.setup import QuietHours
from yuqing.alertstore.base import AlertStore
from yuqing.alertstore.model import SEVERITIES, Alert, Delivery

log = logging.getLogger("yuqing.alerts")
BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600


def queue(store: AlertStore, notice: Alert, kind: str, channels: Sequence[str], now: datetime,
          quiet_hours: QuietHours | None) -> list[Delivery]:
    """Record one notice for each channel; below 紧急 it waits for the end of quiet hours."""
    due = now
    if quiet_hours is not None and notice.severity != SEVERITIES[-1]:
        due = quiet_hours.ends(now) or now
    out = []
    for channel in channels:
        delivery = Delivery(alert_id=notice.id, channel=channel, kind=kind, notice=notice, created_at=now, due_at=due)
        if store.add_delivery(delivery):
            out.append(delivery)
    return out


class Deliverer:
    """Sends pending deliveries through their channels with quick retries."""

    def __init__(self, channels: Mapping[str, Channel], store: AlertStore, retry_delays: Sequence[float]) -> None:
        self.channels, self.store, self.retry_delays = channels, store, tuple(retry_delays)

    def _try(self, channel: Channel, delivery: Delivery) -> str:
        """'' when delivered, else the last error."""
        error = ""
        for pause in (None, *self.retry_delays):
            if pause:
                time.sleep(pause)
            try:
                channel.send(delivery.notice, delivery.key)
                return ""
            except DeliveryError as e:
                error = str(e)
                log.warning("alert %s: %s", delivery.alert_id, error)
        return error

    def flush(self, now: datetime) -> tuple[int, int]:
        """Try every delivery due by `now` once (with retries). Returns (delivered, still pending).
        A channel that failed in this flush is not tried again until the next one, so a dead
        server costs one round of retries, not one per queued notice."""
        delivered = pending = 0
        down: set[str] = set()
        for d in self.store.deliveries(pending_due=now):
            channel = self.channels.get(d.channel)
            if channel is None:
                log.error("notice %s of alert %s is for channel %r, which is no longer configured; kept",
                          d.key, d.alert_id, d.channel)
                pending += 1
                continue
            if d.channel in down:
                pending += 1
                continue
            error = self._try(channel, d)
            d.attempts += 1
            if not error:
                d.state, d.delivered_at, d.last_error = "delivered", now, ""
                self.store.put_delivery(d)
                delivered += 1
                log.info("alert %s: %s notice delivered to %s (attempt %d, key %s)", d.alert_id, d.kind, d.channel,
                         d.attempts, d.key)
                continue
            down.add(d.channel)
            wait = min(BACKOFF_SECONDS * 2 ** (d.attempts - 1), MAX_BACKOFF_SECONDS)
            d.last_error, d.due_at = error, now + timedelta(seconds=wait)
            self.store.put_delivery(d)
            pending += 1
            log.error("alert %s (%s): %s notice not delivered to channel %r: %s; retried after %s",
                      d.alert_id, d.notice.summary(), d.kind, d.channel, error, d.due_at.isoformat())
        return delivered, pending


def send_test(channel: Channel, now: datetime) -> str:
    """Send a test notice through one channel at once (no spool, no retries); returns its key.
    Raises DeliveryError saying what failed where."""
    notice = Alert(rule="test", institution="yuqing", polarity="negative", bucket_start=now, bucket_end=now, count=0,
                   baseline=0.0, score=0.0, created_at=now, notice="test", id=f"test-{now:%Y%m%dT%H%M%S}")
    key = Delivery(alert_id=notice.id, channel=channel.name, kind="test", notice=notice, created_at=now,
                   due_at=now).key
    channel.send(notice, key)
    return key
