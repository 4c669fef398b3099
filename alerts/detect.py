"""Causal anomaly scores for a time series of counts or measurements.

Each row is compared with a baseline built only from earlier rows, so a row's score never changes
when rows are appended (alerts fire on the newest bucket; `yuqing detect` users replay history):

* baseline: the level of the previous 24 rows, or the level at the same time of day on up to 7
  previous days, or at the same time of week on up to 4 previous weeks (quiet weekends), whichever
  has had the smallest residuals over the last 96 rows, so the dominant period is picked from the
  history itself and a stale profile after a level shift hands over to the recent level;
* spread: 1.4826 × the median absolute residual (about zero, so a biased baseline is penalised),
  widened while few residuals exist; for counts (values that have all been non-negative whole
  numbers so far) never less than Poisson noise, so a quiet series does not turn one stray
  mention into an anomaly;
* two passes: rows the first pass finds extreme are left out of the second pass's baselines, so
  a spike does not inflate the baseline it is judged against;
* tail probability p of the row under that baseline (quasi-Poisson via the Wilson–Hilferty
  approximation for counts, normal otherwise), made larger where the series has gone beyond
  3 sd more often than that model says (a power-law tail fitted to its own record);
* runs: the evidence of the last 3, 6 and 12 rows is pooled, so a burst of rows each only
  moderately high is caught;
* score = (1 - p) ** m with m = max(24, rows per day): the chance that the row is more extreme
  than the largest value a whole day of normal noise would produce. The map is monotone in p, so
  0.95 means "rarer than anything expected in a day", not "one row in twenty".

The first rows (fewer than `MIN_HISTORY` earlier values) score 0: nothing to compare them with.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from yuqing.lines import decode_line

DIRECTIONS = ("up", "down", "both")
MIN_HISTORY = 5
LOCAL_WINDOW = 24  # previous rows in the rolling baseline
SPREAD_WINDOW = 96  # previous residuals in the spread estimate: a MAD of few values is too jumpy
_DAY = 86400.0
_MAD_TO_SIGMA = 1.4826
OUTLIER_P = 1e-4  # rows rarer than this are left out of later baselines
_MIN_RATE = 0.1  # counts: a quiet series is treated as at least this busy per row
TAIL_Z = 3.0  # rows beyond this many sd are the series' own record of how heavy its tail is
_TAIL_PRIOR_ROWS = 300.0  # until the series has many rows, assume its tail is about normal
# How many times more often than a normal variable a Student-t(ν) lands beyond 3 of its robust
# (1.4826 × MAD) sd, for ν = 30 … 1 (computed once with scipy.stats.t); the fitted ν is the index
# of the power-law tail used beyond TAIL_Z.
_TAIL_EXCESS = (1.82, 2.86, 4.08, 5.10, 6.96, 8.57, 11.14, 15.7, 25.25, 52.15)
_TAIL_INDEX = (30.0, 15.0, 10.0, 8.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0)
RUNS = (3, 6, 12)  # lengths of the runs of consecutive rows whose evidence is pooled (bursts)
_RUN_CAP = 3.0  # one row adds at most this many standard deviations to a run: a lone spike is no burst
_RUN_GATE = 1.0  # a run counts only if its last row is itself at least this far out (in sd)

_erfc = np.frompyfunc(math.erfc, 1, 1)


class SeriesError(ValueError):
    """The input series is unusable; the message names the row or line."""


def _to_seconds(ts: Sequence[datetime | float | int]) -> tuple[np.ndarray, np.ndarray]:
    """(instants, wall-clock seconds): instants order the rows, wall-clock time (local time for
    aware datetimes) finds the same time of day, so a DST shift does not break the daily cycle."""
    instants = np.empty(len(ts))
    wall = np.empty(len(ts))
    epoch = datetime(1970, 1, 1)
    for i, t in enumerate(ts):
        if isinstance(t, datetime):
            offset = t.utcoffset()
            naive = t.replace(tzinfo=None)
            wall[i] = (naive - epoch).total_seconds()
            instants[i] = wall[i] - (offset.total_seconds() if offset is not None else 0.0)
        else:
            wall[i] = instants[i] = float(t)
    return instants, wall


def _shifted_windows(x: np.ndarray, width: int) -> np.ndarray:
    """Row i holds x[i-width:i] (the previous `width` values), NaN-padded at the start."""
    padded = np.concatenate([np.full(width, np.nan), x])
    return np.lib.stride_tricks.sliding_window_view(padded, width)[:-1]


def _centre_rows(a: np.ndarray, robust: bool = True) -> np.ndarray:
    """Row-wise median (robust) or mean of the non-NaN entries; NaN for rows with none."""
    out = np.full(a.shape[0], np.nan)
    ok = ~np.all(np.isnan(a), axis=1)
    if ok.any():
        out[ok] = (np.nanmedian if robust else np.nanmean)(a[ok], axis=1)
    return out


class Season(NamedTuple):
    period: float  # seconds
    cycles: int  # previous periods looked at
    min_cycles: int  # periods with a value at the same slot needed before the profile is used


# The daily cycle, and the weekly one (quiet weekends) once two weeks of history exist: both are
# always computed, and each row uses whichever baseline has predicted best lately (see _expectation).
SEASONS = (Season(_DAY, 7, 1), Season(7 * _DAY, 4, 2))


def _same_slot_rows(wall: np.ndarray, season: Season) -> np.ndarray:
    """Per row, the earlier rows at the same wall-clock time (and the slots either side of it) in
    each of the previous `season.cycles` periods: an (n, 3 * cycles) index matrix, -1 where there
    is none. Half the local sampling step is the tolerance for "the same time"."""
    n = len(wall)
    step = np.diff(wall, prepend=wall[0] - _DAY)
    tolerance = np.clip(step / 2, 1.0, _DAY / 4)
    rows = np.arange(n)
    columns = []
    for d in range(1, season.cycles + 1):
        for k in (-1, 0, 1):
            target = wall - d * season.period + k * np.minimum(step, _DAY / 24)
            j = np.clip(np.searchsorted(wall, target), 0, n - 1)
            j_prev = np.clip(j - 1, 0, n - 1)
            pick = np.where(np.abs(wall[j_prev] - target) < np.abs(wall[j] - target), j_prev, j)
            ok = (pick < rows) & (np.abs(wall[pick] - target) <= tolerance)
            columns.append(np.where(ok, pick, -1))
    return np.stack(columns, axis=1)


def _gather(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x at the given row indices, NaN where the index is -1."""
    return np.where(rows >= 0, x[np.maximum(rows, 0)], np.nan)


def _seasonal_baseline(x: np.ndarray, slots: np.ndarray, min_cycles: int, robust: bool) -> np.ndarray:
    """Median (or mean) of the same-slot values of previous periods; NaN when fewer than
    `min_cycles` periods have one. The neighbouring slots triple the sample, so the baseline is
    not as noisy as a 7-value median."""
    same_slot = _gather(x, slots)
    found = np.sum(~np.isnan(same_slot[:, 1::3]), axis=1)  # the exact-slot columns
    return np.where(found >= min_cycles, _centre_rows(same_slot, robust), np.nan)


def _recent_spread(residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigma, number of residuals it used) over the previous SPREAD_WINDOW rows: 1.4826 × the
    median absolute residual, about zero rather than about the residuals' median, so a baseline
    that has been off to one side lately (a stale profile after a level shift) looks as bad as it
    is, both when choosing the baseline and when scoring against it. Few residuals give a jumpy
    median, so the spread is widened by 1 + 3 / (residuals used): 60 % after 5 rows, 3 % after 96."""
    windows = _shifted_windows(residual, SPREAD_WINDOW)
    used = np.sum(~np.isnan(windows), axis=1)
    with np.errstate(divide="ignore"):
        widen = 1 + 3 / used
    return _MAD_TO_SIGMA * _centre_rows(np.abs(windows)) * widen, used


def _normal_sf(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.asarray(_erfc(z / math.sqrt(2)), dtype=float)


def _poisson_at_least(k: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """P(X >= k) for X ~ Poisson(lam), k > 0 (real-valued for quasi-Poisson): P(Gamma(k) <= lam),
    Wilson–Hilferty cube-root normal approximation; within a few per cent of the exact tail."""
    k = np.maximum(k, 1e-9)
    z = (np.cbrt(lam / k) - (1 - 1 / (9 * k))) / np.sqrt(1 / (9 * k))
    return 1 - _normal_sf(z)


# Acklam's rational approximation of the normal quantile (relative error < 1.2e-9)
_ACKLAM_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_ACKLAM_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01, 1.0)
_ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
             3.754408661907416e+00, 1.0)


def _normal_isf(p: np.ndarray) -> np.ndarray:
    """z with P(Z >= z) = p, for p clipped to (1e-300, 1 - 1e-16)."""
    p = np.clip(p, 1e-300, 1 - 1e-16)
    lower = np.minimum(p, 1 - p)  # the tail nearer 0
    q = lower - 0.5
    r = q * q
    central = np.polyval(_ACKLAM_A, r) * q / np.polyval(_ACKLAM_B, r)
    t = np.sqrt(-2 * np.log(lower))
    tail = np.polyval(_ACKLAM_C, t) / np.polyval(_ACKLAM_D, t)
    quantile = np.where(lower < 0.02425, tail, central)  # Φ⁻¹(lower) ≤ 0
    return np.where(p < 0.5, -quantile, quantile)


def _calibrate_tail(p: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """p, or more where the series has gone beyond TAIL_Z more often than the model says
    (heavy-tailed noise, over-dispersion the spread misses). From how often earlier rows did
    (a run of such rows counts once, so a past burst or level shift is not mistaken for a heavy
    tail; starting from a normal-like prior), the Student-t with that excess gives a power-law
    tail: rate × (z / TAIL_Z) ^ -ν, and below TAIL_Z never less than that rate (so p does not
    jump up where the power law takes over). Causal (only earlier rows are counted) and monotone
    (p and the power law both fall as the row grows)."""
    z = np.where(valid, _normal_isf(p), 0.0)
    beyond = z > TAIL_Z
    starts = beyond & ~np.concatenate([[False], beyond[:-1]])
    nominal = float(_normal_sf(np.array(TAIL_Z)))
    rows = np.cumsum(valid) - valid + _TAIL_PRIOR_ROWS  # earlier rows only
    rate = (np.cumsum(starts) - starts + _TAIL_PRIOR_ROWS * nominal) / rows
    index = np.interp(rate / nominal, _TAIL_EXCESS, _TAIL_INDEX)
    power_law = rate * (np.maximum(z, TAIL_Z) / TAIL_Z) ** -index
    return np.where(valid, np.maximum(p, power_law), p)


def _pool_runs(p: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """p, or less where the runs of RUNS rows ending at a row are jointly unlikely: a burst of
    rows each only 2 sd out is rare as a whole. The rows' z values (capped at ±_RUN_CAP, so one
    spike cannot make the rows after it a burst) are summed (Stouffer); the smallest run p-value,
    times the number of run lengths tried (Bonferroni), counts where the row itself is at least
    _RUN_GATE sd out, so a burst that has ended stops scoring. Monotone: a higher row only adds."""
    z = np.where(valid, np.clip(_normal_isf(p), -_RUN_CAP, _RUN_CAP), 0.0)
    total = np.concatenate([[0.0], np.cumsum(z)])
    end = np.arange(1, len(p) + 1)
    pooled = np.ones(len(p))
    for length in RUNS:
        run = total[end] - total[np.maximum(end - length, 0)]
        # Neighbouring residuals are not independent (a baseline lagging a trend, a profile off on
        # Mondays) and heavy tails make the z values wider than normal: scale each run by the
        # spread of earlier runs of its length when that exceeds the independent sqrt(length).
        past = _MAD_TO_SIGMA * _centre_rows(np.abs(_shifted_windows(np.where(valid, run, np.nan), SPREAD_WINDOW)))
        spread = np.fmax(math.sqrt(length), past)
        pooled = np.minimum(pooled, len(RUNS) * _normal_sf(run / spread))
    return np.where(valid & (z >= _RUN_GATE), np.minimum(p, pooled), p)


def _tail_probabilities(x: np.ndarray, base: np.ndarray, sigma: np.ndarray,
                        counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(value at least this high), P(value at least this low)) under the baseline."""
    lam = np.maximum(base, _MIN_RATE)
    # quasi-Poisson: scale counts down by the over-dispersion so the variance matches the residuals
    phi = np.where(counts, np.maximum(1.0, sigma ** 2 / lam), 1.0)
    k_up, k_down, lam_phi = x / phi, (x + 1) / phi, lam / phi
    sig = np.maximum(sigma, 1e-9 * (1 + np.abs(base)))
    z = (x - base) / sig
    p_up = np.where(counts & (x > base), _poisson_at_least(k_up, lam_phi), _normal_sf(z))
    p_down = np.where(counts & (x < base), 1 - _poisson_at_least(k_down, lam_phi), _normal_sf(-z))
    return np.clip(p_up, 0.0, 1.0), np.clip(p_down, 0.0, 1.0)


def _expectation(x: np.ndarray, slots: list[np.ndarray], counts: np.ndarray,
                 robust: bool) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, spread) per row from earlier rows; NaN values in `x` are ignored.

    Candidates: the level of the previous LOCAL_WINDOW rows and one profile per season. Each row
    uses the candidate whose residuals have been smallest over the last SPREAD_WINDOW rows, so the
    dominant period is chosen from the history itself, causally, and a level shift that the
    profiles have not seen yet hands over to the recent level. `robust`: medians (first pass,
    outliers still in) or means (second pass, outliers removed; the median of skewed low counts
    underestimates their rate). For counts the spread is measured on residuals divided by
    sqrt(baseline), so busy and quiet hours of a daily cycle share one over-dispersion factor
    instead of one absolute spread."""
    local = _centre_rows(_shifted_windows(x, LOCAL_WINDOW), robust)
    profiles = [_seasonal_baseline(x, rows, season.min_cycles, robust)
                for rows, season in zip(slots, SEASONS, strict=True)]
    base, sigma, best = local, np.zeros(len(x)), np.full(len(x), np.inf)
    for candidate in (local, *profiles):
        scale = np.where(counts, np.sqrt(np.maximum(candidate, _MIN_RATE)), 1.0)
        residual = (x - candidate) / scale
        spread, used = _recent_spread(residual)
        ok = (used >= LOCAL_WINDOW) | (candidate is local)  # a profile first needs a record
        ok &= ~np.isnan(candidate) & ~np.isnan(spread) & (spread < best)
        base = np.where(ok, candidate, base)
        sigma = np.where(ok, spread * scale, sigma)
        best = np.where(ok, spread, best)
    return base, sigma


class SeriesScores(NamedTuple):
    scores: list[float]
    baselines: list[float]  # the value each row was compared with (NaN before there was one)


def score_series(timestamps: Sequence[datetime | float | int], values: Sequence[float],
                 direction: str = "up") -> list[float]:
    """Anomaly score in [0, 1] per row (see the module docstring), computed causally.

    `timestamps`: datetimes (naive or aware, not mixed) or epoch seconds, non-decreasing.
    `direction`: "up" (spikes), "down" (drops) or "both"."""
    return analyse_series(timestamps, values, direction).scores


def analyse_series(timestamps: Sequence[datetime | float | int], values: Sequence[float],
                   direction: str = "up") -> SeriesScores:
    """Like `score_series`, also returning each row's baseline (for "count vs usual" in alerts)."""
    if direction not in DIRECTIONS:
        raise SeriesError(f"direction {direction!r} is not one of: {', '.join(DIRECTIONS)}")
    if len(timestamps) != len(values):
        raise SeriesError(f"{len(timestamps)} timestamps but {len(values)} values")
    n = len(values)
    if n == 0:
        return SeriesScores([], [])
    x = np.asarray(values, dtype=float)
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise SeriesError(f"row {bad[0] + 1}: value {values[bad[0]]!r} is not a finite number")
    instants, wall = _to_seconds(timestamps)
    back = np.flatnonzero(np.diff(instants) < 0)
    if back.size:
        raise SeriesError(f"row {back[0] + 2}: timestamp is earlier than the row before (sort the series)")

    # counts mode holds while every value so far is a non-negative whole number (causal by prefix)
    counts = np.cumprod((x >= 0) & (x == np.round(x))).astype(bool)
    slots = [_same_slot_rows(wall, season) for season in SEASONS]
    base, sigma = _expectation(x, slots, counts, robust=True)
    p_up, p_down = _tail_probabilities(x, base, sigma, counts)
    # Second pass without the rows the first found extreme: a spike must not raise the baseline
    # it is judged against, nor make the return to normal look like a drop. Still causal: a row's
    # flag depends only on rows up to it.
    outlier = np.minimum(p_up, p_down) < OUTLIER_P
    base, sigma = _expectation(np.where(outlier, np.nan, x), slots, counts, robust=False)
    p_up, p_down = _tail_probabilities(x, base, sigma, counts)
    valid = (np.arange(n) >= MIN_HISTORY) & ~np.isnan(base)
    p_up, p_down = (_pool_runs(_calibrate_tail(q, valid), valid) for q in (p_up, p_down))
    p = {"up": p_up, "down": p_down, "both": np.minimum(1.0, 2 * np.minimum(p_up, p_down))}[direction]

    rows_per_day = _rows_per_day(instants)
    scores = np.exp(rows_per_day * np.log1p(-np.minimum(p, 1 - 1e-15)))
    scores[~valid] = 0.0
    return SeriesScores(np.clip(scores, 0.0, 1.0).tolist(), base.tolist())


def _rows_per_day(instants: np.ndarray) -> np.ndarray:
    """max(24, rows per day) from each row's own step to the previous row (causal)."""
    step = np.diff(instants, prepend=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.where(step > 0, _DAY / step, 24.0)
    return np.clip(np.nan_to_num(per_day, nan=24.0), 24.0, 1440.0)


def _parse_timestamp(text: str) -> datetime | float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)


def _text_lines(raw_lines: Iterable[bytes], src: Path) -> Iterator[str]:
    """The file's lines decoded one by one, so a binary or mis-encoded file is named with its line."""
    for number, raw in enumerate(raw_lines, 1):
        try:
            yield decode_line(raw, number)
        except ValueError as e:
            raise SeriesError(f"{src}: line {number}: {e}; the input must be a UTF-8 CSV of timestamp,value") from None


def detect_csv(input_path: str | Path, output_path: str | Path, direction: str = "up") -> int:
    """Read `timestamp,value` CSV, write it back with every input column plus `anomaly_score`.
    Returns the number of rows. Bad input raises SeriesError naming the file and line."""
    src = Path(input_path)
    with src.open("rb") as f:
        reader = csv.DictReader(_text_lines(f, src))
        fields = list(reader.fieldnames or [])
        missing = [c for c in ("timestamp", "value") if c not in fields]
        if missing:
            raise SeriesError(f"{src}: line 1: header lacks column(s) {', '.join(missing)} "
                              f"(found: {', '.join(fields) or 'nothing'})")
        rows, lines = [], []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)  # a quoted field may span lines; report where the record ends
    timestamps: list[datetime | float] = []
    values: list[float] = []
    aware: bool | None = None
    for row, line in zip(rows, lines, strict=True):
        if None in row:  # DictReader files surplus fields under None; writing would drop them
            raise SeriesError(f"{src}: line {line}: {len(fields) + len(row[None])} fields, "
                              f"the header has {len(fields)}")
        ts_text, value_text = (row.get("timestamp") or "").strip(), (row.get("value") or "").strip()
        try:
            ts = _parse_timestamp(ts_text)
        except ValueError:
            raise SeriesError(f"{src}: line {line}: timestamp {ts_text!r} is not ISO 8601 or epoch seconds") from None
        if isinstance(ts, datetime):
            if aware is None:
                aware = ts.tzinfo is not None
            elif aware != (ts.tzinfo is not None):
                raise SeriesError(f"{src}: line {line}: timestamp {ts_text!r} mixes timezone-aware and naive times")
            if aware:
                ts = ts.astimezone(ts.tzinfo)  # keeps local wall time for the daily cycle
        try:
            value = float(value_text)
        except ValueError:
            raise SeriesError(f"{src}: line {line}: value {value_text!r} is not a number") from None
        if not math.isfinite(value):
            raise SeriesError(f"{src}: line {line}: value {value_text!r} is not a finite number")
        timestamps.append(ts)
        values.append(value)
    try:
        scores = score_series(timestamps, values, direction)
    except SeriesError as e:
        raise SeriesError(f"{src}: {_row_to_line(str(e), lines)}") from None
    out_fields = fields + ([] if "anomaly_score" in fields else ["anomaly_score"])
    dst = Path(output_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=out_fields, extrasaction="ignore")
        writer.writeheader()
        for row, score in zip(rows, scores, strict=True):
            writer.writerow({**row, "anomaly_score": f"{score:.6f}"})
    return len(rows)


def _row_to_line(message: str, lines: list[int]) -> str:
    """score_series names rows from 1; say which line of the file that row is on."""
    if message.startswith("row "):
        number, rest = message[4:].split(":", 1)
        if number.isdigit() and 0 < int(number) <= len(lines):
            return f"line {lines[int(number) - 1]}:{rest}"
    return message
