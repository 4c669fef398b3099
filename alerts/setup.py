"""The typed `alerts:` config: channels and rules, validated once at start-up (see README.md)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.channels import CHANNEL_TYPES, Channel, EmailChannel
from alerts.rules import RULE_TYPES, Rule
from yuqing.config import Config, ConfigError, Reader
from yuqing.datadir import DataDir

DEFAULT_RULE: dict[str, Any] = {"name": "negative-spike", "type": "spike", "polarity": "negative", "institution": "*"}
DEFAULT_CHANNEL = "email"


@dataclass(frozen=True)
class AlertSetup:
    rules: tuple[Rule, ...]
    channels: Mapping[str, Channel]
    data_dir: Path  # DATA_DIR/alerts: state, log; the spool is DATA_DIR/spool/alerts
    spool_dir: Path
    retry_delays: tuple[float, ...] = (1.0, 4.0)  # pauses between attempts before spooling


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


def load(config: Config, env: Mapping[str, str] | None = None) -> AlertSetup:
    """Validate `config.alerts` into rules and channels. Raises ConfigError naming the key.

    Without `rules`, one negative-spike rule watches every institution; without `channels`, alerts
    are emailed to `digest.recipients` (and only logged when there are none)."""
    env = os.environ if env is None else env
    top = Reader(config.path, config.alerts, "alerts")
    top.only({"rules", "channels"})
    channels = _channels(config, top, env)
    rules: list[Rule] = []
    seen: set[str] = set()
    items = top.list("rules") if "rules" in top.data else [Reader(config.path, dict(DEFAULT_RULE), "alerts.rules[0]")]
    for item in items:
        kind = _choose(item, "type", RULE_TYPES, "rule type")
        cls = RULE_TYPES[kind]
        item.only(set(cls.OPTIONS))
        name = _name(item, seen, "rule")
        rules.append(cls.from_config(name, item, config, _rule_channels(item, channels)))
    data = DataDir(config.data_dir)
    return AlertSetup(tuple(rules), channels, data.alerts, data.spool("alerts"))
