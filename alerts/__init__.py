"""The alert stage: spike detection on stored mentions, alert channels, the weekly digest.

    setup = alerts.load(config)            # validate the `alerts:` config at start-up
    raised = alerts.check(config, store)   # one check: raise, record, deliver, retry the spool

See alerts/README.md for the configuration and the delivery guarantees.
"""
from __future__ import annotations

from alerts.model import Alert, AlertMention
from alerts.monitor import check, read_log
from alerts.setup import AlertSetup, load

__all__ = ["Alert", "AlertMention", "AlertSetup", "check", "load", "read_log"]
