"""Which stretch of time a digest covers: an ISO week (the weekly digest) or a day (the daily brief).

Both are whole calendar periods in the configured timezone, and the default is the last complete
one, so every figure is final when it is sent (a week-to-date digest would compare a partial week
with a full one). Each is compared with the period before it and with the average of the ones
before that (four weeks; seven days, so a Monday brief is not judged against a weekend alone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from yuqing.config import Config, ConfigError

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class Period:
    kind: str  # weekly | daily
    label: str  # "2026-W10" | "2026-03-09"
    start: datetime  # 00:00 of its first day in the configured timezone
    end: datetime  # exclusive

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def bucket_seconds(self) -> int:
        """The chart's step: days of a week, hours of a day."""
        return 86400 if self.kind == "weekly" else 3600

    @property
    def history_count(self) -> int:
        """How many periods before this one make its average."""
        return 4 if self.kind == "weekly" else 7

    @property
    def noun(self) -> str:
        return "本周" if self.kind == "weekly" else "当日"

    @property
    def previous_noun(self) -> str:
        return "上周" if self.kind == "weekly" else "前一日"

    @property
    def average_noun(self) -> str:
        return "四周均值" if self.kind == "weekly" else "七日均值"

    def bucket_labels(self) -> list[str]:
        if self.kind == "weekly":
            days = [self.start.date() + timedelta(days=i) for i in range(7)]
            return [f"{d:%m-%d}\n周{WEEKDAYS[d.weekday()]}" for d in days]
        return [f"{h:02d}" for h in range(24)]

    def span(self) -> str:
        """Its dates as a reader says them."""
        if self.kind == "daily":
            return f"{self.start:%Y-%m-%d}（周{WEEKDAYS[self.start.weekday()]}）"
        return f"{self.start:%Y-%m-%d} 至 {self.end - timedelta(days=1):%Y-%m-%d}"

    def history_start(self) -> datetime:
        """The start of the `history_count` periods before this one (which end where it starts)."""
        assert self.start.tzinfo is not None
        first = self.start.date() - self.length.days * self.history_count * timedelta(days=1)
        return _midnight(first, self.start.tzinfo)

    def previous(self) -> Period:
        assert self.start.tzinfo is not None
        before = self.start.date() - timedelta(days=1)
        return week_of(before, self.start.tzinfo) if self.kind == "weekly" else day_of(before, self.start.tzinfo)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def week_of(day: date, tz: tzinfo) -> Period:
    """The ISO week containing `day`."""
    year, number, _ = day.isocalendar()
    monday = date.fromisocalendar(year, number, 1)
    return Period("weekly", f"{year}-W{number:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz))


def day_of(day: date, tz: tzinfo) -> Period:
    return Period("daily", day.isoformat(), _midnight(day, tz), _midnight(day + timedelta(days=1), tz))


def _today(config: Config, now: datetime | None) -> date:
    return (now or datetime.now(config.tz)).astimezone(config.tz).date()


def parse_week(text: str | None, config: Config, now: datetime | None = None) -> Period:
    """"YYYY-Www" → that ISO week; None → the last complete week before `now`."""
    if text is None:
        return week_of(_today(config, now) - timedelta(days=7), config.tz)
    m = _WEEK.match(text.strip())
    try:
        if not m:
            raise ValueError
        return week_of(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1), config.tz)
    except ValueError:
        raise ConfigError("command line", "--week", f"{text!r} is not an ISO week like 2026-W09") from None


def parse_day(text: str | None, config: Config, now: datetime | None = None) -> Period:
    """"YYYY-MM-DD" → that day; None → yesterday (the last complete day before `now`)."""
    if text is None:
        return day_of(_today(config, now) - timedelta(days=1), config.tz)
    try:
        return day_of(date.fromisoformat(text.strip()), config.tz)
    except ValueError:
        raise ConfigError("command line", "--day", f"{text!r} is not a date like 2026-03-09") from None


def parse_period(kind: str, text: str | None, config: Config, now: datetime | None = None) -> Period:
    return parse_week(text, config, now) if kind == "weekly" else parse_day(text, config, now)
