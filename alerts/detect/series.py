"""Whole series through the streaming detectors, with warnings for what real series bring along
(a clock that steps back, repeated timestamps, gaps, missing values, a constant series, one row),
and the severity levels the alert rules use."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from alerts.detect.stream import (
    CLIP_ERROR,
    ERROR_HALF_LIFE,
    MIN_HISTORY,
    Detector,
    Record,
    Row,
    log10_normal_sf,
    score_from_decades,
)

# Severity levels, from the score and the count of the bucket (see severity()).
SEVERITIES = ("关注", "预警", "紧急")
WATCH_SCORE = 0.90  # 关注: rarer than once a week of normal buckets
WARN_SCORE = 0.95  # 预警: rarer than once a month
URGENT_SCORE = 0.99  # 紧急: rarer than once in 40 years, with at least URGENT_COUNTS × min_count mentions
URGENT_COUNTS = 3
NOT_FINITE = "value is not a finite number (not scored)"
GAP_STEPS = 10  # a step this many times the typical one is reported as a gap
_EXAMPLES = 3  # rows named per kind of warning

Timestamp = datetime | float | int


class SeriesError(ValueError):
    """The input cannot be scored at all; the message names the file, line or argument."""


class SeriesScores(NamedTuple):
    scores: list[float]
    baselines: list[float]  # the value each row was compared with (NaN before there was one)
    warnings: list[str]  # what was odd about the series, naming rows from 1


def severity(score: float, count: float, min_count: float = 5) -> str | None:
    """关注 (watch: rarer than once a week; worth a look), 预警 (warning: rarer than once a month;
    act today) or 紧急 (urgent: rarer than once in 40 years and at least three times `min_count`
    mentions; act now), or None: below 0.90, or fewer than `min_count` mentions (a score on three
    posts is noise)."""
    if count < min_count or score < WATCH_SCORE:
        return None
    if score >= URGENT_SCORE and count >= URGENT_COUNTS * min_count:
        return SEVERITIES[2]
    return SEVERITIES[1] if score >= WARN_SCORE else SEVERITIES[0]


def _seconds(t: Timestamp) -> tuple[float, float]:
    """(instant, wall clock): epoch seconds, and the local wall-clock time of an aware datetime
    (a naive one is read as UTC), which places the row in the daily cycle across DST shifts."""
    if isinstance(t, datetime):
        wall = (t.replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds()
        offset = t.utcoffset()
        return wall - (offset.total_seconds() if offset is not None else 0.0), wall
    return float(t), float(t)


class _Notes:
    """Rows worth a warning, grouped by kind: 'row 12 (and 3 more): the clock steps back'."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}

    def add(self, kind: str, row: int) -> None:
        self.rows.setdefault(kind, []).append(row)

    def lines(self) -> list[str]:
        out = []
        for kind, rows in self.rows.items():
            named = ", ".join(str(r) for r in rows[:_EXAMPLES])
            more = f" and {len(rows) - _EXAMPLES} more" if len(rows) > _EXAMPLES else ""
            out.append(f"row{'s' if len(rows) > 1 else ''} {named}{more}: {kind}")
        return out


def _walk(timestamps: Sequence[Timestamp], values: Sequence[float], score: Callable[[float, float, int], Row],
          clock: Detector) -> SeriesScores:
    """Feed rows in order to `score(instant, wall, index)`, collecting the warnings; `clock` is
    the detector whose typical step tells a gap."""
    if len(timestamps) != len(values):
        raise SeriesError(f"{len(timestamps)} timestamps but {len(values)} values")
    notes = _Notes()
    scores, baselines = [], []
    last = -math.inf
    aware: bool | None = None
    for i, (t, v) in enumerate(zip(timestamps, values, strict=True)):
        instant, wall = _seconds(t)
        if not math.isfinite(v):
            notes.add(NOT_FINITE, i + 1)  # its time says nothing either: the clock checks skip it
        else:
            if isinstance(t, datetime):
                if aware is None:
                    aware = t.tzinfo is not None
                elif aware != (t.tzinfo is not None):
                    notes.add("mixes timezone-aware and naive times (naive read as UTC)", i + 1)
            if instant < last:
                notes.add("timestamp earlier than the row before (scored in row order)", i + 1)
            elif instant == last:
                notes.add("same timestamp as the row before (scored in row order)", i + 1)
            elif instant - last > GAP_STEPS * clock.step and clock.rows > MIN_HISTORY:
                notes.add(f"a gap of more than {GAP_STEPS} typical steps before it", i + 1)
            last = max(last, instant)
        row = score(instant, wall, i)
        scores.append(row.score)
        baselines.append(row.baseline)
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) == 1:
        notes.add("the only row: nothing to compare it with", 1)
    elif len(finite) > 1 and min(finite) == max(finite):
        notes.add(f"the value never changes ({finite[0]:g}): the first change will score high", len(values))
    return SeriesScores(scores, baselines, notes.lines())


def analyse_series(timestamps: Sequence[Timestamp], values: Sequence[float], direction: str = "up") -> SeriesScores:
    """Score every row of a series in order (see `alerts.detect.stream`); never refuses a series.

    `timestamps`: datetimes (naive or aware) or epoch seconds; `direction`: "up" (spikes), "down"
    (drops) or "both". Also returns each row's baseline (the alert's "count vs usual") and
    warnings about the series, naming rows from 1."""
    try:
        detector = Detector(direction)
    except ValueError as e:
        raise SeriesError(str(e)) from None
    return _walk(timestamps, values, lambda instant, wall, i: detector.update(instant, wall, float(values[i])),
                 detector)


def score_series(timestamps: Sequence[Timestamp], values: Sequence[float], direction: str = "up") -> list[float]:
    """Just the scores of `analyse_series`."""
    return analyse_series(timestamps, values, direction).scores


SHARE_HALF_LIFE = 168.0  # buckets: the usual share is that of about the last week of hourly buckets


class ShareDetector:
    """Is the share of negatives in this bucket unusually high? Quasi-binomial against the
    recent share (ratio of exponentially weighted sums, so busy buckets weigh more), with its
    over-dispersion learnt from earlier buckets and never below binomial: 4 negatives out of 5
    posts is no crisis, 400 of 500 is. Calibrated and mapped to scores like the volume detector."""

    def __init__(self) -> None:
        self._negatives = self._total = 0.0
        self._dispersion = 1.0
        self._buckets = 0
        self._record = Record()
        self.volume = Detector()  # only for its step, so "once a day" follows the bucket size

    def update(self, instant: float, wall: float, negatives: float, total: float) -> Row:
        self.volume.update(instant, wall, total)
        if not (math.isfinite(negatives) and math.isfinite(total)) or total <= 0:
            return Row(0.0, math.nan, -math.inf)
        share = self._negatives / self._total if self._total > 0 else math.nan
        row = Row(0.0, share, -math.inf)
        if self._buckets >= 2 and 0 < share < 1:
            z = (negatives - total * share) / math.sqrt(self._dispersion * total * share * (1 - share))
            raw = max(0.0, -log10_normal_sf(z))
            decades = self._record.decades(raw, self.volume.rows_per_day)
            if self._buckets >= 5:
                row = Row(score_from_decades(decades), share, decades)
            pearson = min(z * z, CLIP_ERROR ** 2 * self._dispersion)
            rate = max(1 / self._buckets, 1 / ERROR_HALF_LIFE)
            self._dispersion = max(1.0, self._dispersion + rate * (pearson - self._dispersion))
        keep = 0.5 ** (1 / SHARE_HALF_LIFE)
        self._negatives = keep * self._negatives + negatives
        self._total = keep * self._total + total
        self._buckets += 1
        return row


def analyse_share(timestamps: Sequence[Timestamp], negatives: Sequence[float],
                  totals: Sequence[float]) -> SeriesScores:
    """Per bucket: the score of its negative share (`ShareDetector`), the usual share, warnings."""
    if len(negatives) != len(totals):
        raise SeriesError(f"{len(negatives)} negative counts but {len(totals)} totals")
    detector = ShareDetector()
    return _walk(timestamps, negatives,
                 lambda instant, wall, i: detector.update(instant, wall, float(negatives[i]), float(totals[i])),
                 detector.volume)
