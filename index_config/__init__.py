"""Elasticsearch index layout for mentions, versioned as package data (`mentions-v<N>.json`).

Writes go to the write alias, reads to the read alias, so a new template version can be rolled out
by building `...-v2-*` indices and moving the aliases, without touching the application. Text is
segmented by jieba in Python (`yuqing.segment`) and indexed with the whitespace analyser, which
every cluster has, so search behaves the same everywhere and the same as the SQLite store.

A mapping version that only adds fields (v2: `group_id`, `group`, `repost_of`,
`published_estimated`) keeps the names of v1: `yuqing index setup` replaces the template and adds
the new fields to the index being written, in place; documents written before keep working.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

TEMPLATE_VERSION = 2
ALERTS_TEMPLATE_VERSION = 1


@dataclass(frozen=True)
class IndexNames:
    template: str
    index_pattern: str
    first_index: str
    read_alias: str
    write_alias: str
    ilm_policy: str


@dataclass(frozen=True)
class IndexLayout:
    """Everything `ElasticsearchStore.setup()` applies for one index prefix."""

    version: int
    names: IndexNames
    priority: int
    settings: dict[str, Any]
    mappings: dict[str, Any]
    ilm_policy: dict[str, Any]

    def index_template(self, lifecycle: bool) -> dict[str, Any]:
        """Keyword arguments for `indices.put_index_template`. `lifecycle` adds the ILM settings,
        which a cluster without ILM rejects as unknown."""
        settings = dict(self.settings)
        if lifecycle:
            settings["index.lifecycle.name"] = self.names.ilm_policy
            settings["index.lifecycle.rollover_alias"] = self.names.write_alias
        body: dict[str, Any] = {
            "index_patterns": [self.names.index_pattern],
            "priority": self.priority,
            "version": self.version,
            "template": {"settings": settings, "mappings": self.mappings,
                         "aliases": {self.names.read_alias: {}}},
        }
        return _with_digest(body)


def _check_prefix(prefix: str) -> None:
    if (not prefix or prefix != prefix.lower() or prefix[0] in "-_+"
            or any(c in prefix for c in ' "*\\/<>?|,#:')):
        raise ValueError(f"index prefix {prefix!r} is not a valid Elasticsearch index name start "
                         "(lower case, not starting with - _ +, no spaces or \\/*?\"<>|,#:)")


def _read(kind: str, version: int, prefix: str) -> dict[str, Any]:
    """`<kind>-v<version>.json` with `{prefix}` filled into every name."""
    _check_prefix(prefix)
    raw: dict[str, Any] = json.loads(resources.files(__name__).joinpath(f"{kind}-v{version}.json").read_text("utf-8"))
    raw["names"] = {k: v.format(prefix=prefix) for k, v in raw["names"].items()}
    return raw


def _with_digest(body: dict[str, Any]) -> dict[str, Any]:
    # The cluster normalises what it stores, so "unchanged" is decided by this digest.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {**body, "meta": {"managed_by": "yuqing", "digest": digest}}


def load(prefix: str, version: int = TEMPLATE_VERSION) -> IndexLayout:
    """The layout of `mentions-v<version>.json` with `{prefix}` filled into every name."""
    raw = _read("mentions", version, prefix)
    return IndexLayout(version=raw["version"], names=IndexNames(**raw["names"]), priority=raw["priority"],
                       settings=raw["settings"], mappings=raw["mappings"], ilm_policy=raw["ilm_policy"])


@dataclass(frozen=True)
class AlertIndexNames:
    template: str
    index_pattern: str
    index: str
    alias: str


@dataclass(frozen=True)
class AlertIndexLayout:
    """The alert store's one index (alerts, deliveries, rule state and silences, told apart by
    `kind`): small, written rarely, never rolled over."""

    version: int
    names: AlertIndexNames
    priority: int
    settings: dict[str, Any]
    mappings: dict[str, Any]

    def index_template(self) -> dict[str, Any]:
        """Keyword arguments for `indices.put_index_template`."""
        return _with_digest({"index_patterns": [self.names.index_pattern], "priority": self.priority,
                             "version": self.version,
                             "template": {"settings": self.settings, "mappings": self.mappings,
                                          "aliases": {self.names.alias: {}}}})


def load_alerts(prefix: str, version: int = ALERTS_TEMPLATE_VERSION) -> AlertIndexLayout:
    """The layout of `alerts-v<version>.json` with `{prefix}` filled into every name."""
    raw = _read("alerts", version, prefix)
    return AlertIndexLayout(version=raw["version"], names=AlertIndexNames(**raw["names"]), priority=raw["priority"],
                            settings=raw["settings"], mappings=raw["mappings"])
