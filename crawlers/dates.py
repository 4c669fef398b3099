"""Dates as Chinese sites show them, to tz-aware datetimes.

Covers ISO 8601, RFC 822 (RSS), Weibo's `Fri Nov 27 10:00:00 +0800 2026`, epoch seconds or
milliseconds, `2026年11月27日 10:00`, and the relative forms of forums and Weibo: 刚刚, 5分钟前,
3小时前, 今天 10:00, 昨天 10:00, `11-27 10:00` and `11-27` (this year, or last year if that would be
in the future) and a bare `10:00` (today). A time without an offset is in the configured zone.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime

_RELATIVE = re.compile(r"^(\d+)\s*(秒|分钟|小时|天|周)前$")
_RELATIVE_UNITS = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days", "周": "weeks"}
_DAY_WORDS = {"今天": 0, "昨天": 1, "前天": 2}
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_FULL = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[\sT]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_MONTH_DAY = re.compile(r"^(\d{1,2})[-/月](\d{1,2})日?(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EPOCH = re.compile(r"^\d{10}(\d{3})?$")
_WEIBO = "%a %b %d %H:%M:%S %z %Y"


def parse_datetime(text: str, tz: tzinfo, now: datetime | None = None, date_format: str | None = None) -> datetime:
    """Parse `text` into an aware datetime; naive results are in `tz`. Raises ValueError."""
    raw = " ".join(str(text).split())
    if not raw:
        raise ValueError("empty date")
    now = (now or datetime.now(tz)).astimezone(tz)
    if date_format:
        return _aware(datetime.strptime(raw, date_format), tz)
    for parse in (_relative, _absolute, _foreign):
        value = parse(raw, tz, now)
        if value is not None:
            return value
    raise ValueError(f"unrecognised date {raw!r}")


def _aware(value: datetime, tz: tzinfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _at(day: datetime, hour: str | None, minute: str | None, second: str | None = None) -> datetime:
    return day.replace(hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0), microsecond=0)


def _relative(raw: str, tz: tzinfo, now: datetime) -> datetime | None:
    if raw == "刚刚":
        return now
    m = _RELATIVE.match(raw)
    if m:
        return now - timedelta(**{_RELATIVE_UNITS[m.group(2)]: int(m.group(1))})
    m = _DAY_WORD.match(raw)
    if m:
        return _at(now - timedelta(days=_DAY_WORDS[m.group(1)]), m.group(2), m.group(3), m.group(4))
    m = _CLOCK.match(raw)
    if m:
        return _at(now, *m.groups())
    m = _MONTH_DAY.match(raw)
    if m:
        month, day, hour, minute, second = m.groups()
        value = _at(now.replace(month=int(month), day=int(day)), hour, minute, second)
        # A month-day without a year is the most recent such day: in January, "12-30" is last year.
        return value.replace(year=now.year - 1) if value > now + timedelta(days=1) else value
    return None


def _absolute(raw: str, tz: tzinfo, now: datetime) -> datetime | None:
    m = _FULL.match(raw)
    if m:
        year, month, day, hour, minute, second = m.groups()
        return _at(datetime(int(year), int(month), int(day), tzinfo=tz), hour, minute, second)
    m = _YEAR_MONTH.match(raw)
    if m:
        return datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=tz)
    if _EPOCH.match(raw):
        seconds = int(raw) / (1000 if len(raw) == 13 else 1)
        return datetime.fromtimestamp(seconds, tz)
    try:
        return _aware(datetime.fromisoformat(raw), tz)
    except ValueError:
        return None


def _foreign(raw: str, tz: tzinfo, now: datetime) -> datetime | None:
    try:
        return datetime.strptime(raw, _WEIBO)
    except ValueError:
        pass
    try:
        return _aware(parsedate_to_datetime(raw), tz)
    except (TypeError, ValueError, IndexError):
        return None
