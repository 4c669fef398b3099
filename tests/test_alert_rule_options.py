"""What each rule type reads from `alerts.rules[]`: every field of the parsed rule, with the
defaults and with every option given, and every refusal, with the key it names and its words. A
change to how rules parse their options (they share one parser for the common ones) must keep all
of it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import alerts
from yuqing.config import ConfigError, from_mapping
from yuqing.model import Institution
from yuqing.query import parse

BANK = Institution("锦程银行", aliases=("锦程",))
OTHER = Institution("华信保险")
DAY = 86400


def load_rule(tmp_path: Path, rule: dict[str, Any]) -> Any:
    data = {"institutions": [{"name": BANK.name, "aliases": list(BANK.aliases)}, {"name": OTHER.name}],
            "sources": [{"name": "weibo", "type": "rss", "params": {"url": "https://example.org/feed.xml"}},
                        {"name": "bbs", "type": "rss", "params": {"url": "https://example.org/bbs.xml"}}],
            "alerts": {"channels": [{"name": "hook", "type": "webhook", "url": "https://hooks.example/a"}],
                       "rules": [rule]}}
    return alerts.load(from_mapping(data, "test.yaml", tmp_path, env={}), env={}).rules[0]


LIFECYCLE = {"channels": ("hook",), "cooldown_seconds": 6 * 3600, "max_cooldown_seconds": 48 * 3600, "top": 5}

DEFAULTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"type": "spike"}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "negative", "bucket_seconds": 3600,
        "history_seconds": 21 * DAY, "min_count": 5, "threshold": 0.95, "resolve_after_seconds": 3600, **LIFECYCLE}),
    ({"type": "share"}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "negative", "bucket_seconds": 3600,
        "history_seconds": 14 * DAY, "min_count": 5, "threshold": 0.95, "resolve_after_seconds": 3600, **LIFECYCLE}),
    ({"type": "silence"}, {
        "name": "r", "institutions": (Institution("weibo"), Institution("bbs")), "data_dir": "DATA",
        "polarity": "any", "history_seconds": 14 * DAY, "min_gap_seconds": 3600, "default_gap_seconds": 6 * 3600,
        "resolve_after_seconds": 1800, **LIFECYCLE}),
    ({"type": "new_term"}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "any", "window_seconds": 6 * 3600,
        "history_seconds": 14 * DAY, "min_count": 5, "threshold": 0.95, "max_history_share": 0.01,
        "resolve_after_seconds": 6 * 3600, **LIFECYCLE}),
    ({"type": "saved_search", "query": "催收"}, {
        "name": "r", "institutions": (BANK, OTHER), "query": parse("催收"), "polarity": "any", "source": "",
        "window_seconds": 3600, "history_seconds": 7 * DAY, "min_count": 1, "severity": "关注",
        "resolve_after_seconds": 3600, **LIFECYCLE}),
]

GIVEN = {"institution": ["锦程", "华信保险", "锦程银行"], "cooldown": "2h", "max_cooldown": "1d", "top": 7,
         "channels": ["hook"]}
ALL_OPTIONS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"type": "spike", "polarity": "any", "bucket": "30m", "history": "7d", "min_count": 0, "threshold": 0.9,
      **GIVEN}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "any", "bucket_seconds": 1800,
        "history_seconds": 7 * DAY, "min_count": 0, "threshold": 0.9, "resolve_after_seconds": 1800,
        "channels": ("hook",), "cooldown_seconds": 7200, "max_cooldown_seconds": DAY, "top": 7}),
    ({"type": "share", "bucket": "2h", "history": "3d", "min_count": 3, "threshold": 0.5, "resolve_after": "5h",
      **GIVEN}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "negative", "bucket_seconds": 7200,
        "history_seconds": 3 * DAY, "min_count": 3, "threshold": 0.5, "resolve_after_seconds": 5 * 3600,
        "channels": ("hook",), "cooldown_seconds": 7200, "max_cooldown_seconds": DAY, "top": 7}),
    ({"type": "silence", "source": ["bbs", "bbs"], "history": "2d", "min_gap": "10m", "default_gap": "3h",
      "resolve_after": "1h", "cooldown": "2h", "max_cooldown": "1d", "top": 7, "channels": ["hook"]}, {
        "name": "r", "institutions": (Institution("bbs"),), "data_dir": "DATA", "polarity": "any",
        "history_seconds": 2 * DAY, "min_gap_seconds": 600, "default_gap_seconds": 3 * 3600,
        "resolve_after_seconds": 3600, "channels": ("hook",), "cooldown_seconds": 7200, "max_cooldown_seconds": DAY,
        "top": 7}),
    ({"type": "new_term", "window": "3h", "history": "5d", "min_count": 2, "threshold": 0.8,
      "max_history_share": 0.1, **GIVEN}, {
        "name": "r", "institutions": (BANK, OTHER), "polarity": "any", "window_seconds": 3 * 3600,
        "history_seconds": 5 * DAY, "min_count": 2, "threshold": 0.8, "max_history_share": 0.1,
        "resolve_after_seconds": 3 * 3600, "channels": ("hook",), "cooldown_seconds": 7200,
        "max_cooldown_seconds": DAY, "top": 7}),
    ({"type": "saved_search", "query": "催收 OR 暴力", "polarity": "negative", "source": "bbs", "window": "2h",
      "history": "2d", "min_count": 4, "severity": "紧急", **GIVEN, "institution": "华信保险"}, {
        "name": "r", "institutions": (OTHER,), "query": parse("催收 OR 暴力"), "polarity": "negative",
        "source": "bbs", "window_seconds": 7200, "history_seconds": 2 * DAY, "min_count": 4, "severity": "紧急",
        "resolve_after_seconds": 7200, "channels": ("hook",), "cooldown_seconds": 7200, "max_cooldown_seconds": DAY,
        "top": 7}),
]


@pytest.mark.parametrize(("options", "expected"), DEFAULTS + ALL_OPTIONS,
                         ids=[f"{o['type']}-{'given' if i >= len(DEFAULTS) else 'defaults'}"
                              for i, (o, _) in enumerate(DEFAULTS + ALL_OPTIONS)])
def test_a_rule_has_exactly_the_fields_its_options_give(tmp_path, options, expected):
    rule = load_rule(tmp_path, {"name": "r", **options})
    fields = {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}
    if "data_dir" in expected:
        expected = {**expected, "data_dir": tmp_path}
    assert fields == expected
    assert rule.TYPE == options["type"]


Refusal = tuple[dict[str, Any], str, str | None]
COMMON_ERRORS: list[Refusal] = [
    ({"institution": 3}, "institution", 'must be "*", an institution name or a list of names'),
    ({"institution": ["锦程", " "]}, "institution", 'must be "*", an institution name or a list of names'),
    ({"institution": "某银行"}, "institution", "'某银行' is not a configured institution (known: 锦程银行, 华信保险)"),
    ({"min_count": "5"}, "min_count", "must be a number from {low} to 1e+09, got '5'"),
    ({"min_count": -1}, "min_count", "must be a number from {low} to 1e+09, got -1"),
    ({"cooldown": "soon"}, "cooldown", "'soon' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
    ({"cooldown": "3d"}, "max_cooldown", "must not be shorter than cooldown"),
    ({"resolve_after": "x"}, "resolve_after", "'x' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
    ({"top": 51}, "top", "must be a number from 1 to 50, got 51"),
    ({"top": True}, "top", "must be a number from 1 to 50, got True"),
    ({"history": "never"}, "history", "'never' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
]
SERIES_ERRORS: list[Refusal] = [
    ({"bucket": "1 hour"}, "bucket", "'1 hour' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
    ({"history": "3h"}, "history", "must cover at least 4 buckets to give a baseline"),
    ({"bucket": "1s", "history": "1d"}, "bucket", "too small for the history (more than 20 000 buckets)"),
    ({"threshold": 1.5}, "threshold", "must be a number from 0 to 1, got 1.5"),
]
WINDOW_ERRORS: list[Refusal] = [
    ({"window": "later"}, "window", "'later' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
    ({"window": "2d", "history": "2d"}, "history", "must be longer than window"),
]
RULES: dict[str, tuple[dict[str, Any], int, list[Refusal]]] = {"spike": ({"type": "spike"}, 0, SERIES_ERRORS + [
             ({"polarity": "angry"}, "polarity", "'angry' is not one of: negative, neutral, positive, any")]),
         "share": ({"type": "share"}, 1, SERIES_ERRORS),
         "new_term": ({"type": "new_term"}, 1, WINDOW_ERRORS + [
             ({"threshold": -0.1}, "threshold", "must be a number from 0 to 1, got -0.1"),
             ({"max_history_share": 2}, "max_history_share", "must be a number from 0 to 1, got 2")]),
         "saved_search": ({"type": "saved_search", "query": "催收"}, 1, WINDOW_ERRORS + [
             ({"query": None}, "query", "is required"),
             ({"query": "催收 AND ("}, "query", None),
             ({"query": "NOT 催收"}, "query", "needs at least one term to look for (not only NOT terms)"),
             ({"polarity": "angry"}, "polarity", "'angry' is not one of: negative, neutral, positive, any"),
             ({"source": "tieba"}, "source", "'tieba' is not a configured source"),
             ({"severity": "high"}, "severity", "'high' is not one of: 关注, 预警, 紧急")])}
CASES = [(kind, base, change, key, words.format(low=low) if words else None)
         for kind, (base, low, own) in RULES.items() for change, key, words in COMMON_ERRORS + own]
SILENCE_ERRORS: list[Refusal] = [
    ({"source": 3}, "source", 'must be "*", a source name or a list of names'),
    ({"source": ["weibo", "tieba"]}, "source", "'tieba' is not a configured source (known: weibo, bbs)"),
    ({"min_gap": "0s"}, "min_gap", None), ({"default_gap": "?"}, "default_gap", None),
    ({"history": "never"}, "history", "'never' is not a duration (use e.g. 30s, 15m, 1h, 7d)"),
    ({"cooldown": "3d"}, "max_cooldown", "must not be shorter than cooldown"),
    ({"top": 0}, "top", "must be a number from 1 to 50, got 0"),
    ({"institution": BANK.name}, "institution", "unknown key")]
CASES += [("silence", {"type": "silence"}, change, key, words) for change, key, words in SILENCE_ERRORS]


@pytest.mark.parametrize(("kind", "base", "change", "key", "words"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_a_bad_option_is_refused_naming_its_key(tmp_path, kind, base, change, key, words):
    rule = {"name": "r", **base, **change}
    with pytest.raises(ConfigError) as info:
        load_rule(tmp_path, {k: v for k, v in rule.items() if v is not None})
    assert (info.value.where, info.value.key) == ("test.yaml", f"alerts.rules[0].{key}"), info.value
    if words is not None:
        assert words in info.value.problem
