"""Source silence: a source whose mentions stop, or whose crawl health says it is walled off
(blocked, login required, failing), for longer than its usual gap: the crawler broke or its cookie expired.

The usual gap is learnt from the source's own arrivals: the 95th percentile of the gaps between
consecutive mentions (at least MIN_GAPS of them), so a source that posts hourly by day and never at
night is not called silent every night. Silent = the time since the last mention is more than
SLACK × that gap (and at least `min_gap`); walled = a health state in WALLED for more than the usual
gap (or `default_gap` while the usual one is not known)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WALLED = ("blocked", "login-required", "failing")  # crawl health states in which nothing can come in
MIN_GAPS = 10
QUANTILE = 0.95
SLACK = 2.0


@dataclass(frozen=True)
class Silence:
    source: str
    reason: str  # "no mentions" or the health state ("blocked", "login-required", "failing")
    since: datetime  # the last mention, or when the health state began
    usual_gap: timedelta | None  # None while too few mentions have been seen to know it

    def summary(self) -> str:
        usual = f"usual gap {self.usual_gap}" if self.usual_gap else "usual gap not known yet"
        return f"{self.source}: {self.reason} since {self.since.isoformat()} ({usual})"


def usual_gap(arrivals: Sequence[datetime]) -> timedelta | None:
    """The QUANTILE of the gaps between consecutive arrivals (in any order), None if too few."""
    ordered = sorted(arrivals)
    gaps = sorted(b - a for a, b in zip(ordered, ordered[1:], strict=False))
    if len(gaps) < MIN_GAPS:
        return None
    return gaps[min(len(gaps) - 1, int(QUANTILE * len(gaps)))]


def source_silence(source: str, arrivals: Sequence[datetime], now: datetime, health: str | None = None,
                   health_since: datetime | None = None, min_gap: timedelta = timedelta(hours=1),
                   default_gap: timedelta = timedelta(hours=6)) -> Silence | None:
    """Whether `source` has gone quiet at `now`, judged by its own arrivals and its crawl health."""
    usual = usual_gap(arrivals)
    if health in WALLED and health_since is not None and now - health_since > (usual or default_gap):
        return Silence(source, health, health_since, usual)
    if usual is not None:
        last = max(arrivals)
        if now - last > max(SLACK * usual, min_gap):
            return Silence(source, "no mentions", last, usual)
    return None
