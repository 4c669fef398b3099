"""`yuqing run`: APScheduler runs the crawls, the alert checks and the weekly digest.

Jobs live in a persistent job store (`DATA_DIR/scheduler.db`), so a restart keeps their next run
times and a run missed while the service was down is made up once, late (coalesced), instead of
being lost. Every run is recorded there too (`app.joblog`, shown by `yuqing jobs`), and a lock
keeps a second `yuqing run` off the same data dir. A stored job can only
name a module-level function and plain, picklable arguments (a source name), so the job functions
below reach the running `Service` of this process, and through it the process's one `Services`.
"""
from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from datetime import datetime
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from app.joblog import JobLog, JobRun, SchedulerLock
from app.services import Services
from yuqing.config import Config, Schedule
from yuqing.storage.base import StoreError

log = logging.getLogger("yuqing.scheduler")
ALERT_CHECK_SECONDS = 300
# Daily, at night in the configured zone: a prune's deletes compete with nobody's searches then.
RETENTION_CRON = "30 3 * * *"

_running: Service | None = None


def _service() -> Service:
    if _running is None:
        raise RuntimeError("no yuqing service is running in this process")
    return _running


def run_check(services: Services, dry_run: bool = False) -> list[Any]:
    """Run the alert rules once on the process's stores; returns the notices of the check. Also
    sends any digest that a dead mail server kept back. `dry_run`: decide, but save and send nothing."""
    import alerts
    from alerts.digest import resend_spooled
    from app.web.saved_alerts import alert_setup

    if not dry_run:
        for record in resend_spooled(services.config, services.alert_store):
            log.info("spooled %s digest %s sent to %s", record.kind, record.period, record.recipient)
    # the config's rules and the saved searches whose alert was turned on in the web app
    return list(alerts.check(services.config, services.store, services.alert_store, setup=alert_setup(services),
                             dry_run=dry_run))


def crawl_job(source: str, settings: dict[str, Any] | None = None) -> list[str]:
    return _service().crawl(source, settings)


def check_job() -> int:
    return _service().check()


def digest_job() -> None:
    _service().digest()


def daily_digest_job() -> None:
    _service().digest("daily")


def retention_job() -> int:
    return _service().retention()


def _trigger(schedule: Schedule, config: Config) -> Any:
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=config.tz)
    return IntervalTrigger(seconds=schedule.interval_seconds, timezone=config.tz)


class Service:
    """The long-running service: one scheduler, jobs derived from the config, run on `services`."""

    def __init__(self, services: Services, crawl_settings: dict[str, Any] | None = None) -> None:
        self.services = services
        self.config = services.config
        self.crawl_settings = crawl_settings
        services.data.root.mkdir(parents=True, exist_ok=True)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{services.data.scheduler_db}")},
            # misfire_grace_time None: a run missed during downtime happens once at start, however late
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=self.config.tz)
        self.log = JobLog(services.data.scheduler_db)
        self.lock = SchedulerLock(services.data.root / "scheduler.lock")
        self.scheduler.add_listener(self._record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._stop = threading.Event()

    def _record(self, event: JobExecutionEvent) -> None:
        outcome = "missed" if event.code == EVENT_JOB_MISSED else "failed" if event.exception else "ok"
        error = f"{type(event.exception).__name__}: {event.exception}" if event.exception else ""
        try:
            self.log.record(JobRun(event.job_id, event.scheduled_run_time, datetime.now(self.config.tz), outcome,
                                   error))
        except sqlite3.Error as e:  # the job itself ran; losing its log line must not stop the service
            log.error("could not record the run of %s in %s: %s", event.job_id, self.log.path, e)

    # -- the jobs -------------------------------------------------------------------------------

    def crawl(self, source: str, settings: dict[str, Any] | None = None) -> list[str]:
        """Crawl one source (in a child process) and log what happened; returns the summary lines.
        `settings` overrides Scrapy settings (the demo turns politeness delays off for its local site)."""
        from app.crawl import crawl

        lines = [r.summary() for r in crawl(self.services, [source], settings=settings)]
        for line in lines:
            log.info("%s", line)
        return lines

    def check(self) -> int:
        """Run the alert rules once; returns the number of notices."""
        notices = run_check(self.services)
        for a in notices:
            log.warning("notice: %s", a.summary())
        return len(notices)

    def retention(self) -> int:
        """Delete the mentions older than `store.retention`; returns how many."""
        from app.dataops import retention

        return retention(self.services)

    def digest(self, kind: str = "weekly") -> None:
        """Send the weekly digest for the last complete week (daily: the brief for yesterday);
        recipients who already had it are skipped."""
        from alerts.digest import send_digest

        for r in send_digest(self.config, self.services.store, self.services.alert_store, kind=kind):
            log.info("%s digest %s: %s to %s", kind, r.period, r.state, r.recipient)

    def job_specs(self) -> list[tuple[str, Any, Any, tuple[Any, ...]]]:
        """(job id, function, trigger, args) for every job the config asks for."""
        specs: list[tuple[str, Any, Any, tuple[Any, ...]]] = [
            (f"crawl:{s.name}", crawl_job, _trigger(s.schedule, self.config), (s.name, self.crawl_settings))
            for s in self.config.sources]
        specs.append(("alerts:check", check_job,
                      IntervalTrigger(seconds=ALERT_CHECK_SECONDS, timezone=self.config.tz), ()))
        if self.config.digest.recipients:
            specs.append(("digest:weekly", digest_job, _trigger(self.config.digest.schedule, self.config), ()))
            if self.config.digest.daily.enabled:
                specs.append(("digest:daily", daily_digest_job, _trigger(self.config.digest.daily.schedule,
                                                                         self.config), ()))
        if self.config.store.retention_seconds is not None:
            specs.append(("store:retention", retention_job, CronTrigger.from_crontab(RETENTION_CRON,
                                                                                     timezone=self.config.tz), ()))
        return specs

    def start(self) -> None:
        global _running
        if _running is not None and _running is not self:
            raise RuntimeError("a yuqing service is already running in this process")
        self.lock.acquire()
        _running = self
        try:
            self.scheduler.start(paused=True)
        except SQLAlchemyError as e:
            _running = None
            cause = getattr(e, "orig", None) or e
            raise StoreError(f"{self.services.data.scheduler_db}: not a readable job store ({cause}); move it aside "
                             "and start again (the jobs are rebuilt from the config)") from None
        wanted = set()
        for job_id, fn, trigger, args in self.job_specs():
            wanted.add(job_id)
            kept = self.scheduler.get_job(job_id)
            if kept is not None and (str(kept.trigger), kept.args) == (str(trigger), args):
                continue  # unchanged: keep its next run time, so a run missed while down still happens
            self.scheduler.add_job(fn, trigger, args=args, id=job_id, name=job_id, replace_existing=True)
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:  # a source removed from the config
                log.info("removing job %s: no longer in the config", job.id)
                job.remove()
        self.scheduler.resume()
        for job in self.scheduler.get_jobs():
            log.info("scheduled %s, next run %s", job.id, job.next_run_time)
        if not self.config.sources:
            log.warning("no sources configured in %s: nothing will be crawled (see `yuqing init`)", self.config.path)

    def stop(self) -> None:
        global _running
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.lock.release()
        if _running is self:
            _running = None
        self._stop.set()

    def run_forever(self) -> None:
        """Start, then block until Ctrl-C or SIGTERM; stops cleanly, letting running jobs finish."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s, stopping (running jobs finish first)", signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.start()
        print(f"yuqing is running ({len(self.scheduler.get_jobs())} jobs, data in {self.config.data_dir}); "
              "Ctrl-C stops it", flush=True)
        self._stop.wait()
        self.stop()
        print("yuqing stopped", flush=True)
