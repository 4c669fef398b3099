"""`yuqing run`: jobs from config in a persistent job store, clean stop on Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from test_alerts_support import sink_fixture  # noqa: F401 (a fixture, known to pytest by its short name)

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


def test_the_daily_brief_is_its_own_job_and_sends_once(tmp_path, sink):
    s = service(tmp_path, CONFIG.replace("digest: {recipients: [team@example.com]}",
                                         "digest: {recipients: [team@example.com], daily: {schedule: '30 7 * * *'}}\n"
                                         f"smtp: {{host: 127.0.0.1, port: {sink.port}}}"))
    s.start()
    try:
        jobs = {j.id: j for j in s.scheduler.get_jobs()}
        assert {"digest:weekly", "digest:daily"} <= set(jobs)
        assert (jobs["digest:daily"].next_run_time.hour, jobs["digest:daily"].next_run_time.minute) == (7, 30)
        s.digest("daily")  # what the job runs; a second run (a restart making up a missed one) sends nothing
        s.digest("daily")
    finally:
        s.stop()
    [received] = sink.messages()
    assert received.read_text(encoding="utf-8").count("X-Yuqing-Kind: digest") == 1
    assert [r.kind for r in s.services.alert_store.digest_sends()] == ["daily"]


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


def test_a_second_scheduler_on_the_same_data_dir_refuses_to_start(tmp_path):
    first = service(tmp_path)
    first.start()
    env = dict(os.environ, YUQING_DATA_DIR=str(tmp_path / "data"))
    try:
        second = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(tmp_path / "yuqing.yaml"), "run"],
                                env=env, capture_output=True, text=True, timeout=120)
    finally:
        first.stop()
    assert second.returncode == 1
    assert f"another `yuqing run` (pid {os.getpid()}) is using {tmp_path / 'data'}" in second.stderr
    again = service(tmp_path)  # the first one is gone: now it may
    again.start()
    again.stop()


def test_a_check_missed_while_down_runs_once_late_and_is_logged(tmp_path):
    import json
    from datetime import datetime, timedelta

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from app.joblog import JobLog

    text = "sources: []\n"
    s = service(tmp_path, text)
    s.start()
    s.stop()
    # the service was down for three hours: its check, due every 5 minutes, missed 36 runs
    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'data' / 'scheduler.db'}")
    store.start(s.scheduler, "default")
    job = store.lookup_job("alerts:check")
    due = datetime.now(s.config.tz).replace(microsecond=0) - timedelta(hours=3)
    job._modify(next_run_time=due)
    store.update_job(job)
    store.shutdown()

    s = service(tmp_path, text)
    s.start()
    log = JobLog(tmp_path / "data" / "scheduler.db")
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a speed requirement
        while not log.runs() and time.monotonic() < deadline:
            time.sleep(0.2)
        next_run = s.scheduler.get_job("alerts:check").next_run_time
    finally:
        s.stop()
    [run] = log.runs()  # once, not 36 times (coalesced: logged as due at the latest missed time)
    assert (run.job_id, run.outcome) == ("alerts:check", "ok") and due <= run.scheduled_at <= run.finished_at
    assert next_run > due + timedelta(hours=3)

    env = dict(os.environ, YUQING_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(tmp_path / "yuqing.yaml"), "jobs",
                           "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert [j["id"] for j in shown["jobs"]] == ["alerts:check"]
    assert shown["runs"][0]["outcome"] == "ok" and shown["runs"][0]["scheduled_at"] == run.scheduled_at.isoformat()


def test_failed_job_runs_are_logged_and_make_jobs_exit_1(tmp_path):
    from datetime import datetime, timedelta

    from app.joblog import JobLog, JobRun

    data = tmp_path / "data"
    now = datetime.now().astimezone()
    log = JobLog(data / "scheduler.db")
    log.record(JobRun("crawl:feed-a", now - timedelta(minutes=1), now, "failed", "StoreError: disk full"))
    env = dict(os.environ, YUQING_DATA_DIR=str(data))
    env.pop("YUQING_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "jobs"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "crawl:feed-a" in proc.stdout and "StoreError: disk full" in proc.stdout
