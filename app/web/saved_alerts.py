"""Saved searches as alerts, turned on in the web app rather than pasted into `alerts.rules`.

A saved search whose alert is on is a `saved_search` rule (`alerts.rules.SavedSearchRule`): its
query and filters, the owner's choice of the configured channels, severity and window. The rule
is kept with the search in `web.db`; every alert check (the scheduler's job, `yuqing alerts
check`) runs the config's rules and these (`alert_setup`), each validated as an entry of
`alerts.rules` is (`alerts.setup.extra_rule`), so its alerts go through the same lifecycle:
firing, reminders, acknowledgement, silences, resolved. A rule that no longer validates (a channel
taken out of the config) is skipped with an error in the log; the others still run.

The rule watches the owner's institutions: the search's institution filter, else every one the
owner may see. Its name is `OWNER/NAME`, unique like the search itself.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from alerts.rules import Rule
from alerts.setup import AlertSetup, extra_rule
from app.services import Services
from app.web.state import User, WebState, state_path
from yuqing.alertstore.model import OPEN_STATES, SEVERITIES, AlertQuery
from yuqing.config import ConfigError, Reader

log = logging.getLogger("yuqing.web")
DEFAULT_ALERT: dict[str, Any] = {"channels": [], "severity": SEVERITIES[0], "window": "1h", "min_count": 1}
TURNED_OFF = "检索告警已关闭"


def rule_name(saved: dict[str, Any]) -> str:
    return f"{saved['owner']}/{saved['name']}"


def rule_mapping(owner: User, saved: dict[str, Any], alert: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `alerts.rules` entry of a saved search, with its alert options (`alert`, else the stored
    ones, else the defaults). The dates of the search do not carry over: the rule watches a
    moving window."""
    params = saved["params"]
    options = {**DEFAULT_ALERT, **(alert if alert is not None else saved.get("alert") or {})}
    institution: str | list[str] = params.get("institution") or (
        list(owner.institutions) if owner.institutions is not None else "*")
    rule: dict[str, Any] = {"name": rule_name(saved), "type": "saved_search", "query": params.get("q", ""),
                            "institution": institution}
    rule.update({key: params[key] for key in ("polarity", "source") if params.get(key)})
    rule.update({key: options[key] for key in ("window", "min_count", "severity", "channels")})
    return rule


def check_rule(setup: AlertSetup, services: Services, owner: User, saved: dict[str, Any],
               alert: dict[str, Any] | None = None) -> Rule:
    """The saved search's rule, validated against `setup` (the config's channels and rule names).
    ConfigError names the search and the key."""
    mapping = rule_mapping(owner, saved, alert)
    where = f"saved search {saved['name']!r} of {owner.name}"
    wanted = saved["params"].get("institution")
    if owner.institutions is not None and wanted and wanted not in owner.institutions:
        raise ConfigError(where, "institution", f"{wanted!r} is not one of {owner.name}'s institutions "
                                                f"({', '.join(owner.institutions) or 'none'})")
    return extra_rule(setup, services.config, Reader(where, mapping, ""))


def alert_setup(services: Services, state: WebState | None = None) -> AlertSetup:
    """The config's rules and channels plus the rules of the saved searches whose alert is on.
    `state`: the web app's own; else `web.db` is opened for the call (and not created when the
    web app never ran)."""
    setup = services.alerts
    path = state_path(services)
    if state is None and not path.exists():
        return setup
    opened = state or WebState(path)
    try:
        found = opened.alerting_searches()
    finally:
        if state is None:
            opened.close()
    for owner, saved in found:
        try:
            setup = dataclasses.replace(setup, rules=(*setup.rules, check_rule(setup, services, owner, saved)))
        except ConfigError as e:
            log.error("%s (in %s): this saved search's alert is skipped until it is fixed or turned off", e, path)
    return setup


def resolve_open(services: Services, setup: AlertSetup, saved: dict[str, Any], by: str) -> int:
    """Resolve the open alerts of a saved search whose alert is being turned off (`setup` still
    has its rule, so the resolved notice goes to its channels); how many."""
    import alerts

    records = services.alert_store.list_alerts(AlertQuery(rule=rule_name(saved), states=OPEN_STATES, limit=1000))
    for record in records:
        alerts.resolve(services.config, services.alert_store, record.id, by, TURNED_OFF, setup=setup)
    return len(records)
