"""The docs are part of the product: every command and every config key must be in the README."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli import build_parser
from yuqing import config as cfg

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_command_is_documented(name):
    assert f"`yuqing {name}" in README, f"README lacks a `yuqing {name}` entry"
    for action in subcommands()[name]._actions:
        for flag in action.option_strings:
            if flag not in ("-h", "--help"):
                assert flag in README, f"README does not mention {flag} of `yuqing {name}`"


@pytest.mark.parametrize("key", sorted(cfg.TOP_KEYS))
def test_every_top_level_config_key_is_documented(key):
    assert f"`{key}" in README


@pytest.mark.parametrize("section, fields", [
    ("smtp", ["host", "port", "username", "security", "sender", "timeout"]),
    ("digest", ["recipients", "schedule", "title"]),
    ("store.elasticsearch", ["url", "username", "ca_file", "index_prefix", "timeout"]),
    ("store", ["backend", "retention"]),
    ("institutions[]", ["name", "aliases", "exclude"]),
    ("sources[]", ["name", "type", "schedule", "params"]),
])
def test_every_nested_config_key_is_documented(section, fields):
    for field in fields:
        assert f"{section}.{field}" in README, f"README lacks {section}.{field}"


def test_every_secret_variable_is_documented():
    for var in ("YUQING_SMTP_PASSWORD", "YUQING_ES_API_KEY", "YUQING_ES_PASSWORD", "YUQING_CONFIG",
                "YUQING_DATA_DIR"):
        assert var in README


def test_every_alerts_action_and_option_is_documented():
    alerts_parser = subcommands()["alerts"]
    action = next(a for a in alerts_parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in action.choices.items():
        assert f"`yuqing alerts {name}" in README, f"README lacks a `yuqing alerts {name}` entry"
        for option in parser._actions:
            for flag in option.option_strings:
                if flag not in ("-h", "--help"):
                    assert flag in README, f"README does not mention {flag} of `yuqing alerts {name}`"


def test_every_alerts_key_and_rule_option_is_documented():
    from alerts.rules import RULE_TYPES

    alerts_readme = (Path(__file__).parent.parent / "alerts" / "README.md").read_text(encoding="utf-8")
    for key in cfg.ALERTS_KEYS:
        assert f"`alerts.{key}" in README, f"README lacks alerts.{key}"
    for rule in RULE_TYPES.values():
        for option in rule.OPTIONS - {"name", "type"}:
            assert f"| `{option}` |" in alerts_readme, f"alerts/README.md lacks the rule option {option}"
            assert f"`{option}`" in README, f"README's alerts.rules[] row lacks {option}"
