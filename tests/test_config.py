"""Config loading: precedence, defaults, and errors that name the file and the key."""
from __future__ import annotations

import pytest

from app import settings
from yuqing.config import ConfigError, load, parse_duration


def write(tmp_path, text):
    path = tmp_path / "yuqing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path):
    config = load(None, tmp_path / "data", env={})
    assert config.path == "<defaults>"
    assert config.timezone == "Asia/Shanghai"
    assert config.store.backend == "sqlite"
    assert config.sqlite_path == (tmp_path / "data" / "yuqing.db").resolve()
    assert config.digest.schedule.cron == "0 9 * * mon"


def test_file_in_data_dir_is_picked_up(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write(data, "timezone: Asia/Hong_Kong\n")
    assert load(None, data, env={}).timezone == "Asia/Hong_Kong"


def test_precedence_defaults_file_env_flags(tmp_path):
    path = write(tmp_path, "timezone: Asia/Hong_Kong\nsmtp: {host: mail.example.com, port: 2525}\n")
    env = {"YUQING_CONFIG": str(path), "YUQING_DATA_DIR": str(tmp_path / "env-data"),
           "YUQING_SMTP_HOST": "relay.example.com", "YUQING_SMTP_PASSWORD": "s3cret"}
    config = load(None, None, env=env)
    assert config.timezone == "Asia/Hong_Kong"
    assert config.smtp.host == "relay.example.com"  # environment beats the file
    assert config.smtp.port == 2525
    assert config.smtp.password == "s3cret"
    assert config.data_dir == (tmp_path / "env-data").resolve()
    assert load(None, tmp_path / "flag-data", env=env).data_dir == (tmp_path / "flag-data").resolve()


def test_institutions_and_sources(tmp_path):
    path = write(tmp_path, """
institutions:
  - name: 招商银行
    aliases: [招行, CMB]
    exclude: [招商局]
sources:
  - name: news
    type: rss
    schedule: 15m
    params: {url: "https://example.com/feed.xml"}
  - name: weekly
    type: rss
    schedule: "0 9 * * mon"
""")
    config = load(path, tmp_path, env={})
    (inst,) = config.institutions
    assert inst.names[0] == "招商银行" and set(inst.aliases) == {"招行", "CMB"}
    assert config.sources[0].schedule.interval_seconds == 900
    assert config.sources[1].schedule.cron == "0 9 * * mon"
    assert config.source("news").params["url"].endswith("feed.xml")


@pytest.mark.parametrize("text, key, words", [
    ("timezone: Mars/Olympus\n", "timezone", "IANA"),
    ("institutions:\n  - aliases: [x]\n", "institutions[0].name", "required"),
    ("institutions:\n  - name: A\n    nickname: B\n", "institutions[0].nickname", "unknown key"),
    ("sources:\n  - {name: a, type: rss, schedule: often}\n", "sources[0].schedule", "duration"),
    ("sources:\n  - {name: a, type: rss}\n  - {name: a, type: rss}\n", "sources[1].name", "used twice"),
    ("store: {backend: mongo}\n", "store.backend", "sqlite, elasticsearch"),
    ("smtp: {security: tls}\n", "smtp.security", "starttls"),
    ("smtp: {port: twenty-five}\n", "smtp.port", "whole number"),
    ("colour: blue\n", "colour", "unknown key"),
    ("web: {port: 8080}\n", "web", "unknown key"),  # no web app yet: its section is not accepted
    # the stages' sections, checked by the one loader at start-up with the file's name
    ("nlp: {colour: 1}\n", "nlp.colour", "unknown key"),
    ("nlp: {risk: {weights: {negativity: 2}}}\n", "nlp.risk.weights.negativity", "0 to 1"),
    ("alerts: {rules: [{name: r, type: spike, bucket: soon}]}\n", "alerts.rules[0].bucket", "duration"),
    ("sources:\n  - {name: a, type: gopher}\n", "sources[0].type", "gopher"),
])
def test_errors_name_file_and_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        settings.load(path, tmp_path, env={})
    assert e.value.key == key
    assert words in e.value.problem
    assert str(path) in str(e.value)


def test_broken_yaml_says_where(tmp_path):
    path = write(tmp_path, "institutions:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML: line \d+, column \d+"):
        load(path, tmp_path, env={})


def test_named_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "missing.yaml", tmp_path, env={})


@pytest.mark.parametrize("value, seconds", [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), (45, 45)])
def test_durations(value, seconds):
    assert parse_duration(value, "f", "k") == seconds
