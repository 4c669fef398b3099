"""The typed `alerts:` config: channels and rules, validated once at start-up (see README.md)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.channels import CHANNEL_TYPES, Channel, EmailChannel
from alerts.rules import RULE_TYPES, Rule
from yuqing.config import ALERTS_KEYS, Config, ConfigError, Reader
from yuqing.datadir import DataDir

DEFAULT_RULE: dict[str, Any] = {"name": "negative-spike", "type": "spike", "polarity": "negative", "institution": "*"}
DEFAULT_CHANNEL = "email"


@dataclass(frozen=True)
class QuietHours:
    """A daily period (in the configured timezone) when notices below 紧急 wait; it may run over
    midnight (22:00-08:00)."""

    start: time
    end: time

    def ends(self, at: datetime) -> datetime | None:
        """When the quiet period around `at` ends, or None when `at` is not in one."""
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        t = at.time().replace(tzinfo=None)
        end_today = datetime.combine(day.date(), self.end, at.tzinfo)
        if self.start <= self.end:
            return end_today if self.start <= t < self.end else None
        if t >= self.start:
            return end_today + timedelta(days=1)
        return end_today if t < self.end else None


@dataclass(frozen=True)
class AlertSetup:
    rules: tuple[Rule, ...]
    channels: Mapping[str, Channel]
    data_dir: Path  # DATA_DIR/alerts: the check's lock file
    retry_delays: tuple[float, ...] = (1.0, 4.0)  # pauses between quick attempts, before waiting for the next check
    quiet_hours: QuietHours | None = None
    search_url: str = ""  # the web app's search page, linked from every alert


def _choose(r: Reader, key: str, options: Mapping[str, Any], what: str) -> str:
    value = r.str(key, required=True)
    if value not in options:
        raise ConfigError(r.where, r.key(key), f"unknown {what} {value!r} (known: {', '.join(options)})")
    return value


def _name(r: Reader, seen: set[str], what: str) -> str:
    name = r.str("name", required=True).strip()
    if not name:
        raise ConfigError(r.where, r.key("name"), "must not be empty")
    if name in seen:
        raise ConfigError(r.where, r.key("name"), f"{what} name {name!r} is used twice")
    seen.add(name)
    return name


def _channels(config: Config, top: Reader, env: Mapping[str, str]) -> dict[str, Channel]:
    if "channels" not in top.data and config.digest.recipients:
        # no alerts config: mail the people who get the digest
        return {DEFAULT_CHANNEL: EmailChannel(DEFAULT_CHANNEL, config.digest.recipients, config)}
    out: dict[str, Channel] = {}
    for item in top.list("channels"):
        name = _name(item, set(out), "channel")
        kind = _choose(item, "type", CHANNEL_TYPES, "channel type")
        cls = CHANNEL_TYPES[kind]
        item.only({"name", "type", *cls.OPTIONS})
        out[name] = cls.from_config(name, item, config, env)
    return out


def _rule_channels(r: Reader, channels: Mapping[str, Channel]) -> tuple[str, ...]:
    """`channels`: names of configured channels; absent means all of them."""
    if "channels" not in r.data:
        return tuple(channels)
    names = r.strs("channels")
    for name in names:
        if name not in channels:
            raise ConfigError(r.where, r.key("channels"),
                              f"no channel named {name!r} (configured: {', '.join(channels) or 'none'})")
    return names


_QUIET = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def _quiet_hours(top: Reader) -> QuietHours | None:
    value = top.data.get("quiet_hours")
    if value is None:
        return None
    match = _QUIET.match(value) if isinstance(value, str) else None
    if match is None or match.groups()[:2] == match.groups()[2:]:
        raise ConfigError(top.where, top.key("quiet_hours"), f"{value!r} is not a period such as '22:00-08:00'")
    h1, m1, h2, m2 = map(int, match.groups())
    return QuietHours(time(h1, m1), time(h2, m2))


def _search_url(top: Reader) -> str:
    url = top.str("search_url").strip()
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise ConfigError(top.where, top.key("search_url"), f"{url!r} is not an http(s) URL")
    return url


def load(config: Config, env: Mapping[str, str] | None = None) -> AlertSetup:
    """Validate `config.alerts` into rules and channels. Raises ConfigError naming the key.

    Without `rules`, one negative-spike rule watches every institution; without `channels`, alerts
    are emailed to `digest.recipients` (and only logged when there are none)."""
    env = os.environ if env is None else env
    top = Reader(config.path, config.alerts, "alerts")
    top.only(ALERTS_KEYS)
    channels = _channels(config, top, env)
    rules: list[Rule] = []
    seen: set[str] = set()
    items = top.list("rules") if "rules" in top.data else [Reader(config.path, dict(DEFAULT_RULE), "alerts.rules[0]")]
    for item in items:
        rules.append(_rule(item, config, channels, seen))
    return AlertSetup(tuple(rules), channels, DataDir(config.data_dir).alerts, quiet_hours=_quiet_hours(top),
                      search_url=_search_url(top))


def _rule(item: Reader, config: Config, channels: Mapping[str, Channel], seen: set[str]) -> Rule:
    kind = _choose(item, "type", RULE_TYPES, "rule type")
    cls = RULE_TYPES[kind]
    item.only(set(cls.OPTIONS))
    name = _name(item, seen, "rule")
    return cls.from_config(name, item, config, _rule_channels(item, channels))


def extra_rule(setup: AlertSetup, config: Config, item: Reader) -> Rule:
    """A rule kept outside the config file (the web app's saved-search alerts), validated exactly as
    an entry of `alerts.rules` is, against `setup`'s channels; its name must not be one of
    `setup.rules`'. Raises ConfigError naming `item`'s where and key."""
    return _rule(item, config, setup.channels, {r.name for r in setup.rules})
