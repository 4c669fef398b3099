"""Config and environment said clearly and early (issue 8): bad crons, ports, addresses, names and
duplicate keys fail at load with the file and the key; a directory as the config, a read-only data
dir, a corrupt scheduler.db and an unreachable Elasticsearch each get one line naming what and where."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app import settings
from tests.test_cli import yq
from yuqing.config import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "yuqing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        settings.load(path, tmp_path, env or {})
    message = str(e.value)
    assert message.startswith(f"{path}: ") or message.startswith("environment: "), message
    assert "\n" not in message
    return message


SOURCE = "sources:\n  - {name: news, type: rss, params: {url: 'http://e.example/f.xml'}, schedule: '%s'}\n"


@pytest.mark.parametrize("cron", ["99 99 * * *", "* * * * fooday", "0 25 * * *", "*/0 * * * *", "1 2 3 4"])
def test_a_bad_source_cron_is_rejected_at_load_with_file_and_key(tmp_path, cron):
    message = load_error(tmp_path, SOURCE % cron)
    assert "sources[0].schedule:" in message and f"{cron!r}" in message


def test_a_bad_digest_cron_is_rejected_even_with_no_recipients(tmp_path):
    message = load_error(tmp_path, "digest: {schedule: '0 9 * * fooday'}\n")
    assert "digest.schedule: '0 9 * * fooday' is not a cron expression" in message


@pytest.mark.parametrize("good", ["0 9 * * mon", "*/15 * * * *", "30m", "1h"])
def test_good_schedules_still_load(tmp_path, good):
    config = settings.load(write(tmp_path, SOURCE % good), tmp_path, {})
    assert config.sources[0].schedule.cron == (good if " " in good else None)


@pytest.mark.parametrize("text, key, words", [
    ("smtp: {port: 99999}\n", "smtp.port", "99999 is out of range (1-65535)"),
    ("smtp: {port: 0}\n", "smtp.port", "out of range"),
    ("digest: {recipients: ['not an email']}\n", "digest.recipients[0]", "'not an email' is not an email address"),
    ("digest: {recipients: ['a@b.example', 'x@']}\n", "digest.recipients[1]", "is not an email address"),
    ("sources:\n  - {name: '', type: rss}\n", "sources[0].name", "must not be empty"),
    ("sources:\n  - {name: '   ', type: rss}\n", "sources[0].name", "must not be empty"),
    ("institutions:\n  - {name: ''}\n", "institutions[0].name", "must not be empty"),
])
def test_bad_values_are_named_with_their_key(tmp_path, text, key, words):
    message = load_error(tmp_path, text)
    assert f": {key}: " in message and words in message


def test_a_bad_smtp_port_in_the_environment_is_named(tmp_path):
    message = load_error(tmp_path, "smtp: {host: mail.example}\n", {"YUQING_SMTP_PORT": "smtp"})
    assert message == "environment: YUQING_SMTP_PORT: 'smtp' is not a port number"


@pytest.mark.parametrize("text, key, lines", [
    ("smtp:\n  port: 25\n  host: a\n  port: 587\n", "port", (2, 4)),
    ("timezone: Asia/Shanghai\ntimezone: UTC\n", "timezone", (1, 2)),
    ("sources:\n  - name: a\n    type: rss\n    name: b\n", "name", (2, 4)),
])
def test_duplicate_yaml_keys_are_rejected_with_both_lines(tmp_path, text, key, lines):
    message = load_error(tmp_path, text)
    assert f": {key}: given twice, at line {lines[0]} and line {lines[1]}" in message


def test_a_config_path_that_is_a_directory_says_so(tmp_path):
    proc = yq(tmp_path / "data", "--config", str(tmp_path), "status", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"yuqing: {tmp_path}: is a directory, not a config file (name the YAML file in it)"


def test_an_empty_yuqing_config_variable_means_no_file(tmp_path):
    config = settings.load(None, tmp_path, {"YUQING_CONFIG": ""})
    assert config.path == "<defaults>"


def test_a_corrupt_scheduler_db_is_one_line_with_the_file_name(tmp_path):
    (tmp_path / "scheduler.db").write_bytes(b"this is not SQLite\0" * 300)
    (tmp_path / "yuqing.yaml").write_text("web: {port: 0}\n", encoding="utf-8")  # not 8080: it may be taken here
    proc = yq(tmp_path, "run", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"yuqing: run failed: {tmp_path / 'scheduler.db'}: not a readable job store (file is not a database); "
        "move it aside and start again (the jobs are rebuilt from the config)")


def test_a_read_only_data_dir_is_named_with_the_cause(tmp_path):
    """A read-only mount (in a user and mount namespace of its own: no root needed, and root
    ignores file modes, so chmod would prove nothing)."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode:
        pytest.skip("this kernel does not allow user namespaces (unshare), so no read-only mount can be made")
    data = tmp_path / "data"
    data.mkdir()
    script = f"mount -t tmpfs -o ro,size=1m tmpfs {data} && {sys.executable} -m app.cli --data-dir {data} search x"
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin"},
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"cannot open the SQLite store at {data / 'yuqing.db'}" in proc.stderr
    assert f"({data} is read-only: give a writable --data-dir, or make it writable)" in proc.stderr


def test_status_while_elasticsearch_is_down_shows_health_and_spool(tmp_path):
    from yuqing.datadir import DataDir, HealthRecord

    # Port 9 (discard) on loopback: nothing listens, so every request is refused, as when the node is down.
    (tmp_path / "yuqing.yaml").write_text(yaml.safe_dump({
        "store": {"backend": "elasticsearch", "elasticsearch": {"url": "http://127.0.0.1:9", "timeout": "2s"}},
        "sources": [{"name": "news", "type": "rss", "params": {"url": "https://e.example/f.xml"}}]}), encoding="utf-8")
    data = DataDir(tmp_path)
    data.write_health(HealthRecord("news", "rss", stored=4))
    data.spool("mentions").mkdir(parents=True)
    (data.spool("mentions") / "x.jsonl").write_text('{"a": 1}\n{"a": 2}\n', encoding="utf-8")
    proc = yq(tmp_path, "status", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "store (elasticsearch): UNREACHABLE — " in proc.stdout and "127.0.0.1:9" in proc.stdout
    assert "news [rss]: ok" in proc.stdout and "spool: 2 mention(s)" in proc.stdout
    status = json.loads(yq(tmp_path, "status", "--json", check=False).stdout)
    assert status["store"]["mentions"] is None and status["store"]["unreachable"]
    assert status["sources"]["news"]["stored"] == 4 and status["spool"]["mentions"] == 2
