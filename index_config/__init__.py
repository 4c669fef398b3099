"""Elasticsearch index layout for mentions, versioned as package data (`mentions-v<N>.json`).

Writes go to the write alias, reads to the read alias, so a new template version can be rolled out
by building `...-v2-*` indices and moving the aliases, without touching the application. Text is
segmented by jieba in Python (`yuqing.segment`) and indexed with the whitespace analyser, which
every cluster has, so search behaves the same everywhere and the same as the SQLite store.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

TEMPLATE_VERSION = 1


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
        # The cluster normalises what it stores, so "unchanged" is decided by this digest.
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        body["meta"] = {"managed_by": "yuqing", "digest": digest}
        return body


def load(prefix: str, version: int = TEMPLATE_VERSION) -> IndexLayout:
    """The layout of `mentions-v<version>.json` with `{prefix}` filled into every name."""
    if (not prefix or prefix != prefix.lower() or prefix[0] in "-_+"
            or any(c in prefix for c in ' "*\\/<>?|,#:')):
        raise ValueError(f"index prefix {prefix!r} is not a valid Elasticsearch index name start "
                         "(lower case, not starting with - _ +, no spaces or \\/*?\"<>|,#:)")
    raw = json.loads(resources.files(__name__).joinpath(f"mentions-v{version}.json").read_text("utf-8"))
    names = IndexNames(**{k: v.format(prefix=prefix) for k, v in raw["names"].items()})
    return IndexLayout(version=raw["version"], names=names, priority=raw["priority"],
                       settings=raw["settings"], mappings=raw["mappings"], ilm_policy=raw["ilm_policy"])
