"""`yuqing run`: jobs from config in a persistent job store, clean stop on Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from app.scheduler import Service, crawl_job
from app.services import Services

CONFIG = """
institutions: [{name: 锦程银行}]
sources:
  - {name: feed-a, type: rss, schedule: 15m, params: {url: "http://127.0.0.1:9/a.xml"}}
  - {name: feed-b, type: rss, schedule: "0 8 * * mon", params: {url: "http://127.0.0.1:9/b.xml"}}
digest: {recipients: [team@example.com]}
web: {port: 0}
"""


def service(tmp_path, text=CONFIG):
    path = tmp_path / "yuqing.yaml"
    path.write_text(text, encoding="utf-8")
    return Service(Services.load(path, tmp_path / "data", env={}))


def test_jobs_follow_the_config_and_persist(tmp_path):
    s = service(tmp_path)
    s.start()
    try:
        jobs = {j.id: j for j in s.scheduler.get_jobs()}
        assert set(jobs) == {"crawl:feed-a", "crawl:feed-b", "alerts:check", "digest:weekly"}
        digest_next = jobs["digest:weekly"].next_run_time
        assert (digest_next.weekday(), digest_next.hour, digest_next.minute) == (0, 9, 0)
        assert digest_next.utcoffset().total_seconds() == 8 * 3600
        assert jobs["crawl:feed-a"].args[0] == "feed-a"
    finally:
        s.stop()
    assert (tmp_path / "data" / "scheduler.db").is_file()
    # a restart with one source removed: the job store is reused and the stale job goes
    s = service(tmp_path, CONFIG.replace(
        '  - {name: feed-b, type: rss, schedule: "0 8 * * mon", params: {url: "http://127.0.0.1:9/b.xml"}}\n', ""))
    s.start()
    try:
        assert {j.id for j in s.scheduler.get_jobs()} == {"crawl:feed-a", "alerts:check", "digest:weekly"}
    finally:
        s.stop()


def test_no_digest_job_without_recipients(tmp_path):
    s = service(tmp_path, "sources: []\n")
    assert [spec[0] for spec in s.job_specs()] == ["alerts:check"]


def test_run_starts_and_stops_cleanly_on_ctrl_c(tmp_path):
    path = tmp_path / "yuqing.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    env = dict(os.environ, YUQING_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(path), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300  # a hang guard only: start-up is slow on a loaded machine
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        assert any("yuqing is running (4 jobs" in line for line in lines), "".join(lines)
        web = next(line.split(" at ", 1)[1].strip() for line in lines if line.startswith("web app at "))
        assert httpx.get(f"{web}/api/health", timeout=30).json() == {"status": "ok"}  # the web app runs beside
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "yuqing stopped" in out


def test_crawl_job_reports_an_unreachable_source_clearly(tmp_path):
    """Offline, a scheduled crawl neither crashes the service nor hides the problem."""
    from app.crawl import LOCAL_SITE_SETTINGS

    s = service(tmp_path)
    s.start()
    try:
        (line,) = crawl_job("feed-a", LOCAL_SITE_SETTINGS)  # as the scheduler calls it: through the running service
    finally:
        s.stop()
    assert "feed-a" in line
    assert "127.0.0.1:9" in line or "cannot reach" in line, line
