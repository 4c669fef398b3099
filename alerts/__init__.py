"""The alert stage: spike detection on stored mentions, the alert lifecycle, channels, the digest.

    setup = alerts.load(config)                          # validate the `alerts:` config at start-up
    notices = alerts.check(config, store, alert_store)   # one check: advance, record, deliver, retry

See alerts/README.md for the configuration, the lifecycle and the delivery guarantees.
"""
from __future__ import annotations

from alerts.monitor import check, resolve
from alerts.setup import AlertSetup, load
from yuqing.alertstore.model import Alert, AlertMention

__all__ = ["Alert", "AlertMention", "AlertSetup", "check", "load", "resolve"]
