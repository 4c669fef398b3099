"""Streaming, causal anomaly scores: one `Detector` per series, `update(...)` once per row, O(1) work.

Each row is judged only by the state that earlier rows left behind, so a row's score never changes
when rows are appended (the alert check scores the newest bucket; `yuqing detect` replays history):

* four predictors of the row, all updated on every row: the recent value (an exponentially
  weighted mean with a half-life of 2 rows, quick to follow a level shift), the level (half-life
  24 rows, robust: a residual moves it by at most 3 sd), and Holt-Winters profiles of the day
  (24 hourly slots) and of the week (168 slots, quiet weekends) by wall-clock time; each row uses
  the one whose squared errors have been smallest lately (half-life 48 rows);
* spread: that mean squared error (residuals clipped at 3.5 sd, so one spike does not blind the
  detector for days), widened while few residuals exist; for counts (values that have all been
  non-negative whole numbers so far) the errors are Pearson residuals, so the spread is an
  over-dispersion factor φ times Poisson noise, never less than Poisson where the level is low
  (a z-score on three posts an hour is noise);
* the tail probability of the row: quasi-Poisson (Wilson–Hilferty) for counts, normal otherwise,
  computed in log space so it keeps ranking far into the tail; and a CUSUM of the rows' z values
  (each capped at 3, drift 1), so a burst of rows each only 2 sd out is found too;
* calibration against the series' own record: how often earlier episodes went beyond each decade
  of rarity, so a heavy-tailed or badly modelled series is not scored as if the model were right;
* the score maps those decades, relative to one day of rows, onto [0, 1] without saturating
  (see `score_from_decades`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

DIRECTIONS = ("up", "down", "both")
MIN_HISTORY = 5  # rows seen before the first non-zero score
_DAY = 86400.0
_HOUR = 3600.0
_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)
_LOG10_2 = math.log10(2.0)

RECENT_HALF_LIFE = 2.0  # rows
LEVEL_HALF_LIFE = 24.0  # rows
SEASON_LEVEL_HALF_LIFE = 3 * _DAY  # the de-seasonalised level of the profiles, in time
ERROR_HALF_LIFE = 96.0  # rows: which predictor has been best lately, and the spread
SWITCH_MARGIN = 0.85  # another predictor takes over once its mean squared error is 15 % lower
SEASON_CYCLES = (7, 4)  # a profile slot is the mean of about this many days / weeks
MIN_SEASON_ERRORS = 24  # a profile must have predicted this many rows before it may be chosen
CLIP_LEVEL = 3.0  # sd: the most one residual moves a level
CLIP_ERROR = 3.5  # sd: the largest residual counted in the spread
OUTLIER_DECADES = 4.0  # a row this rare either way (p < 1e-4 by the model) is left out of the baselines
ACCEPT_OUTLIERS = 12.0  # ... unless about this many recent rows were: then it is the new normal
OUTLIER_MEMORY = 0.9  # per normal row
PRIOR_DAYS = 1.0  # after a shift to a new level, a return to the old one is no anomaly for this long
_MIN_FACTOR = 0.02  # a multiplicative profile slot is within 1/50 and 50 times the level
MIN_RATE = 0.1  # counts: a silent series is treated as at least this busy per row
POISSON_FLOOR_BELOW = 20.0  # counts: below this level the spread is never less than Poisson
RUN_CAP = 3.0  # one row adds at most this many sd to a run
RUN_DRIFT = 1.0  # CUSUM reference value (sd per row)
RUN_GATE = 1.0  # a run counts only while its newest row is itself at least this far out
MAX_DECADE = 40  # the record of the series' own rarities goes this far
TAIL_SPAN = 2  # decades over which the record's slope is measured
MIN_SLOPE = 0.25  # decades of calibrated rarity per decade of the model's, at least
PRIOR_ROWS = 300.0  # until a series has many rows, its record is assumed to follow the model
EPISODE_ROWS = 12  # rows reaching a decade within this many rows of each other are one episode,
EPISODE_FROM = 3  # from this decade on (below it, independent rows are that close anyway)
MIN_EPISODES = 10.0  # a decade of the record is trusted once this many episodes reached it
SCORE_SCALE = 0.684  # decades past "once a day" (see score_from_decades: 0.95 = once a month)


def score_from_decades(decades: float) -> float:
    """Map "decades rarer than once a day" onto [0, 1], monotone and never reaching 1.

    `decades` = log10(1 / (p · rows per day)), p the calibrated tail probability of the row. A row
    as rare as the rarest of a normal day scores 0.5; below that the score falls towards 0 as
    0.5 · 10^(decades / 2); above it, 1 − 0.5 / (1 + decades / 0.684)²: 0.90 once a week, 0.95
    once a month, 0.99 once in 40 years, and still distinct values (written with 9 decimals) far
    beyond: 10¹⁰⁰ days scores 0.99997689, 10¹⁰⁰⁰ days 0.99999977."""
    if decades < 0:
        return 0.5 * 10.0 ** (decades / 2)
    return 1.0 - 0.5 / (1.0 + decades / SCORE_SCALE) ** 2


def log10_normal_sf(z: float) -> float:
    """log10 P(Z >= z) for a standard normal Z, accurate far into the tail."""
    if z < 30.0:
        return math.log10(0.5 * math.erfc(z / _SQRT2))
    ln = -0.5 * z * z - math.log(z) - 0.5 * math.log(2 * math.pi) + math.log1p(-1 / (z * z) + 3 / z ** 4)
    return ln / _LN10


def _wilson_hilferty(k: float, lam: float) -> float:
    """z with P(Gamma(k) <= lam) ≈ Φ(z) (the Poisson tail P(X >= k) for X ~ Poisson(lam))."""
    return (math.cbrt(lam / k) - (1 - 1 / (9 * k))) * 3 * math.sqrt(k)


def log10_poisson_at_least(k: float, lam: float) -> float:
    return 0.0 if k <= 0 else log10_normal_sf(-_wilson_hilferty(k, lam))


def _log10_poisson_at_most(k: float, lam: float) -> float:
    return log10_normal_sf(_wilson_hilferty(k + 1, lam))


def _alpha(half_life: float) -> float:
    return 1.0 - 0.5 ** (1.0 / max(half_life, 1e-9))


_ALPHA_RECENT = _alpha(RECENT_HALF_LIFE)
_ALPHA_LEVEL = _alpha(LEVEL_HALF_LIFE)


_ALPHA_ERROR = _alpha(ERROR_HALF_LIFE)


class _Predictor:
    """One way of predicting the next row, and the record of how well it has done."""

    __slots__ = ("level", "err", "errors", "sd")

    def __init__(self, level: float) -> None:
        self.level = level
        self.err = 0.0  # exponentially weighted mean squared (scaled) residual
        self.errors = 0  # residuals recorded
        self.sd = 0.0  # spread: sqrt(err), widened by 1 + 3 / errors while there are few

    def record(self, r: float) -> None:
        if self.errors >= MIN_HISTORY:
            limit = CLIP_ERROR * self.sd
            r = -limit if r < -limit else limit if r > limit else r
        self.errors += 1
        self.err += max(1.0 / self.errors, _ALPHA_ERROR) * (r * r - self.err)
        self.sd = math.sqrt(self.err) * (1 + 3 / self.errors)


@dataclass
class _Season:
    """Holt-Winters profile (no trend) over `slots` slots of `slot_seconds` wall time:
    multiplicative for counts (a busy hour is busier by a factor, whatever the level), additive
    for measurements (which may be negative)."""

    slots: int
    slot_seconds: float
    cycles: int
    min_cycles: int
    multiplicative: bool = True
    factors: list[float] = field(init=False)  # per slot: × level (multiplicative) or + level
    visits: list[int] = field(init=False)
    predictor: _Predictor = field(init=False)

    def __post_init__(self) -> None:
        self.factors = [1.0] * self.slots
        self.visits = [0] * self.slots
        self.predictor = _Predictor(0.0)

    def slot(self, wall: float) -> int:
        return int(wall // self.slot_seconds) % self.slots

    def ready(self, slot: int, history: float) -> bool:
        period = self.slots * self.slot_seconds
        return (history >= self.min_cycles * period and self.visits[slot] >= self.min_cycles
                and self.predictor.errors >= MIN_SEASON_ERRORS)

    def predict(self, slot: int) -> float:
        if self.multiplicative:
            return self.predictor.level * self.factors[slot]
        return self.predictor.level + self.factors[slot]

    def level_for(self, prediction: float, slot: int) -> float:
        """The level at which this slot would predict `prediction`."""
        if self.multiplicative:
            return prediction / self.factors[slot]
        return prediction - self.factors[slot]

    def learn(self, x: float, slot: int, sigma: float, rows_per_slot: float, level_alpha: float) -> None:
        p = self.predictor
        clip = CLIP_LEVEL * sigma
        x = max(self.predict(slot) - clip, min(self.predict(slot) + clip, x))
        p.level += level_alpha * (self.level_for(x, slot) - p.level)
        self.visits[slot] += 1
        rate = 1.0 / min(self.visits[slot], self.cycles * max(rows_per_slot, 1.0))
        if self.multiplicative:
            if p.level >= MIN_RATE:
                factor = self.factors[slot] + rate * (x / p.level - self.factors[slot])
                self.factors[slot] = max(_MIN_FACTOR, min(1 / _MIN_FACTOR, factor))
        else:
            self.factors[slot] += rate * (x - p.level - self.factors[slot])

    def make_additive(self) -> None:
        if self.multiplicative:
            self.multiplicative = False
            self.factors = [self.predictor.level * (f - 1.0) for f in self.factors]


class _Run:
    """A one-sided CUSUM of z values (each capped at RUN_CAP, drift RUN_DRIFT), and its length."""

    __slots__ = ("total", "rows")

    def __init__(self) -> None:
        self.total = 0.0
        self.rows = 0

    def add(self, z: float) -> None:
        # a row on the other side of the baseline ends the run: otherwise a burst's run outlives
        # it by run / drift rows, and a slightly high row just after the burst inherits its score
        self.total = max(0.0, self.total + min(z, RUN_CAP) - RUN_DRIFT) if z > 0 else 0.0
        self.rows = self.rows + 1 if self.total > 0 else 0

    def goes_on(self, z: float) -> bool:
        return self.rows > 0 and z >= RUN_GATE


@dataclass(frozen=True)
class Row:
    """What the detector says about one row."""

    score: float  # in [0, 1]; see score_from_decades
    baseline: float  # the value the row was compared with (NaN before there was one)
    decades: float  # calibrated rarity: log10(1 / (p · rows per day))


_NOT_SCORED = Row(0.0, math.nan, -math.inf)


class Record:
    """A series' own record of how rare its rows were: per decade of the model's rarity, how many
    episodes (runs of consecutive rows) reached it. `decades(raw, rows_per_day)` calibrates one
    row's raw rarity by that record, then counts the row in it."""

    def __init__(self) -> None:
        self._counts = [0.0] * (MAX_DECADE + 1)  # [0]: rows; [k]: episodes that reached decade k
        self._trusted = 0  # highest decade with at least MIN_EPISODES episodes (prior included)
        self._last = [-math.inf] * (MAX_DECADE + 1)  # the last row that reached each decade
        self._advance_trusted()

    def decades(self, raw: float, rows_per_day: float) -> float:
        """log10(1 / (p · rows_per_day)) for the calibrated tail probability p of `raw`."""
        calibrated = self._calibrated(raw)
        self._remember(raw)
        return calibrated - math.log10(rows_per_day)

    def _tail(self, k: int) -> float:
        """log10 of the share of rows whose episode reached decade k, the prior included."""
        rows = self._counts[0] + PRIOR_ROWS
        return math.log10((self._counts[k] + PRIOR_ROWS * 10.0 ** -k) / rows)

    def _calibrated(self, raw: float) -> float:
        """The row's rarity in decades by the series' own record: where enough earlier episodes
        reached a decade, their share; beyond the last such decade, the record's own slope over
        its last TAIL_SPAN trusted decades (between -1, the model's, and MIN_SLOPE: a heavy tail
        falls slower than the model says). Monotone in `raw`: the shares fall with the decade."""
        top = self._trusted
        if raw >= top:
            slope = -1.0
            if top >= TAIL_SPAN:
                slope = min(-MIN_SLOPE, max(-1.0, (self._tail(top) - self._tail(top - TAIL_SPAN)) / TAIL_SPAN))
            return -self._tail(top) - slope * (raw - top)
        k = int(raw)
        low, high = self._tail(k), self._tail(k + 1)
        return -(low + (raw - k) * (high - low))

    def _remember(self, raw: float) -> None:
        """Count the row in the record, and in each decade it reached unless (from EPISODE_FROM
        on) an earlier row reached that decade within EPISODE_ROWS rows: the same episode."""
        row = self._counts[0]
        self._counts[0] += 1
        for k in range(1, min(int(raw), MAX_DECADE) + 1):
            if k < EPISODE_FROM or row - self._last[k] > EPISODE_ROWS:
                self._counts[k] += 1
            self._last[k] = row
        self._advance_trusted()

    def _advance_trusted(self) -> None:
        while (self._trusted < MAX_DECADE - 1 and self._counts[self._trusted + 1]
               + PRIOR_ROWS * 10.0 ** -(self._trusted + 1) >= MIN_EPISODES):
            self._trusted += 1


class Detector:
    """Causal anomaly scores for one series, one row at a time.

    `update(instant, wall, value)`: `instant` orders rows and measures the sampling step (epoch
    seconds); `wall` is the local wall-clock time in seconds, which places the row in the daily
    and weekly profiles (so a DST shift does not break the daily cycle). Rows may come with a
    clock that steps back or repeats: they are scored in the order given, only the step estimate
    ignores them. A NaN value is not scored and leaves the state as it was."""

    def __init__(self, direction: str = "up") -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} is not one of: {', '.join(DIRECTIONS)}")
        self.direction = direction
        self.rows = 0
        self.counts = True
        self._first_wall = 0.0
        self._last_instant = -math.inf
        self._log_step = math.nan
        self._recent = _Predictor(0.0)
        self._level = _Predictor(0.0)
        self._seasons = (_Season(24, _HOUR, SEASON_CYCLES[0], 1), _Season(168, _HOUR, SEASON_CYCLES[1], 2))
        self._up, self._down = _Run(), _Run()
        self._record = Record()
        self._chosen: _Predictor | None = None
        self._extreme = 0.0  # the last row's rarity in decades, either way, by the model alone
        self._outliers = 0.0  # recent extreme rows, each counting OUTLIER_MEMORY ** (normal rows since)
        self._prior = math.nan  # the level before the last shift, while a return to it is expected
        self._prior_rows = 0.0  # rows left until the new level is the only normal
        self._returned = False  # the last row was back at the prior level, far from the new one

    @property
    def step(self) -> float:
        """Typical seconds between rows (geometric mean of the forward steps); 1 h until known."""
        return _HOUR if math.isnan(self._log_step) else math.exp(self._log_step)

    @property
    def rows_per_day(self) -> float:
        return min(1440.0, max(1.0, _DAY / self.step))

    def update(self, instant: float, wall: float, value: float) -> Row:
        if not math.isfinite(value):
            return _NOT_SCORED
        if instant > self._last_instant > -math.inf:
            dt = math.log(instant - self._last_instant)
            self._log_step = dt if math.isnan(self._log_step) else self._log_step + 0.05 * (dt - self._log_step)
        self._last_instant = max(instant, self._last_instant)
        if self.counts and not (value >= 0 and value == round(value)):
            self._stop_counting()
        if self.rows == 0:
            self._first_wall = wall
            for p in (self._recent, self._level, *(s.predictor for s in self._seasons)):
                p.level = value
        slots = [s.slot(wall) for s in self._seasons]
        candidates = [(self._recent, self._recent.level), (self._level, self._level.level)]
        history = wall - self._first_wall
        for season, slot in zip(self._seasons, slots, strict=True):
            if season.ready(slot, history):
                candidates.append((season.predictor, season.predict(slot)))
        self._extreme, self._returned = 0.0, False
        row = self._score(value, candidates) if self.rows >= 1 else _NOT_SCORED
        self._prior_rows -= 1
        if self._returned:  # the burst is over: the old level is the normal again
            self._shift_to(self._prior, slots, remember=False)
            self._outliers = 0.0
        extreme = self._extreme >= OUTLIER_DECADES
        self._outliers = self._outliers + 1 if extreme else self._outliers * OUTLIER_MEMORY
        # a lasting change is the new normal, but a source that went silent is not
        dead = self.counts and value == 0
        outlier = extreme and (self._outliers <= ACCEPT_OUTLIERS or dead)
        # ... once the row itself is nearer the recent level than the baseline: a shift decided on
        # the first row back at the old level would make the return look like a drop
        if (extreme and not dead and self._outliers > ACCEPT_OUTLIERS
                and abs(value - self._recent.level) < abs(value - row.baseline)):
            self._shift_to(self._recent.level, slots)
        if outlier:  # only the recent value follows it, so that a lasting change can take over later
            self._recent.level += _ALPHA_RECENT * (value - self._recent.level)
        else:
            self._learn(value, slots)
        self.rows += 1
        return row if self.rows > MIN_HISTORY else Row(0.0, row.baseline, row.decades)

    def _shift_to(self, level: float, slots: list[int], remember: bool = True) -> None:
        """A lasting change (ACCEPT_OUTLIERS extreme rows lately): move the levels to the recent
        one at once, keeping the profiles' shapes, instead of letting them crawl there. The old
        level is remembered for PRIOR_DAYS: a burst that lasted long enough to be taken for the
        new normal usually ends, and its end is then no anomaly the other way (see `_score`)."""
        if not remember:
            self._prior, self._prior_rows = math.nan, 0.0
        elif self._prior_rows <= 0:  # a second shift soon after the first: the level before both is the old one
            self._prior, self._prior_rows = self._level.level, PRIOR_DAYS * self.rows_per_day
        self._up, self._down = _Run(), _Run()  # runs against the old level say nothing about the new
        self._level.level = level
        for season, slot in zip(self._seasons, slots, strict=True):
            season.predictor.level = season.level_for(level, slot)

    def _stop_counting(self) -> None:
        """The series is not counts after all: from now on residuals are not divided by the
        Poisson scale, so the errors recorded so far are scaled back."""
        self.counts = False
        for season in self._seasons:
            season.make_additive()
        for p in (self._recent, self._level, *(s.predictor for s in self._seasons)):
            p.err *= max(p.level, MIN_RATE)
            p.sd = math.sqrt(p.err) * (1 + 3 / max(p.errors, 1))

    def _scale(self, prediction: float) -> float:
        return math.sqrt(max(prediction, MIN_RATE)) if self.counts else 1.0

    def _score(self, x: float, candidates: list[tuple[_Predictor, float]]) -> Row:
        best, pred = candidates[0]
        for candidate in candidates[1:]:
            if candidate[0].errors >= 2 and (best.errors < 2 or candidate[0].err < best.err):
                best, pred = candidate
        for candidate in candidates:  # keep the predictor used last unless another is clearly better
            if candidate[0] is self._chosen and candidate[0].err * SWITCH_MARGIN <= best.err:
                best, pred = candidate
        self._chosen = best
        if best.errors < 2:
            return Row(0.0, pred, -math.inf)
        z, up, down = self._tails(x, pred, best.sd)
        old = self._old_level(best, pred, candidates)
        if old is not None:
            # the level before a burst is a baseline too: a row back there (or between the two)
            # is the end of the burst, not an anomaly the other way
            oz, oup, odown = self._tails(x, *old)
            if self._prior_rows > 0:  # far out by the new level, and not by the old one: it is back
                self._returned = max(up, down) >= OUTLIER_DECADES > max(oup, odown)
            if old[0] < pred:
                z, down = max(z, min(oz, 0.0)), min(down, odown)
            else:
                z, up = min(z, max(oz, 0.0)), min(up, oup)
        self._up.add(z)
        self._down.add(-z)
        # P(CUSUM >= h) ≈ exp(-2 · drift · h) for unit-variance steps; halved for two tests (row,
        # run). A row counts as part of a run while it is nearer the recent values than the baseline.
        within = abs(x - self._recent.level) <= abs(x - pred)
        if within and self._up.goes_on(z):
            up = max(up, 2 * RUN_DRIFT * self._up.total / _LN10 - _LOG10_2)
        if within and self._down.goes_on(-z):
            down = max(down, 2 * RUN_DRIFT * self._down.total / _LN10 - _LOG10_2)
        self._extreme = max(up, down)  # too unusual for the baselines, whichever way it goes
        raw = {"up": up, "down": down, "both": max(up, down) - _LOG10_2}[self.direction]
        raw = max(raw, 0.0)
        decades = self._record.decades(raw, self.rows_per_day)
        return Row(score_from_decades(decades), pred, decades)

    def _old_level(self, best: _Predictor, pred: float, candidates: list[tuple[_Predictor, float]]
                   ) -> tuple[float, float] | None:
        """(prediction, spread) by the level before a burst, when the chosen prediction may be the
        burst's own: after a shift to a new level (for PRIOR_DAYS), or while the recent value is
        chosen and has followed extreme rows that the other predictors left out."""
        if self._prior_rows > 0:
            if self.counts and self._level.level > 0:
                return pred * self._prior / self._level.level, best.sd
            return pred + self._prior - self._level.level, best.sd
        if best is self._recent and self._outliers >= 1:
            others = [(p, at) for p, at in candidates if p is not self._recent and p.errors >= 2]
            if others:
                p, at = min(others, key=lambda c: c[0].err)
                return at, p.sd
        return None

    def _tails(self, x: float, pred: float, spread: float) -> tuple[float, float, float]:
        """(z, up, down) of `x` against the prediction `pred`: its z value and the decades of
        rarity of a row at least this high / at most this low."""
        if self.counts:
            lam = max(pred, MIN_RATE)
            floor = min(1.0, max(0.0, (2 * POISSON_FLOOR_BELOW - lam) / POISSON_FLOOR_BELOW))
            phi = max(spread * spread, floor, 1e-6)
            return ((x - lam) / math.sqrt(phi * lam), -log10_poisson_at_least(x / phi, lam / phi),
                    -_log10_poisson_at_most(x / phi, lam / phi))
        z = (x - pred) / max(spread, 1e-4 * abs(pred), 1e-12)
        return z, -log10_normal_sf(z), -log10_normal_sf(-z)

    def _learn(self, x: float, slots: list[int]) -> None:
        step = self.step
        level_alpha = _alpha(SEASON_LEVEL_HALF_LIFE / step)
        for p, alpha, robust in ((self._recent, _ALPHA_RECENT, False), (self._level, _ALPHA_LEVEL, True)):
            scale = self._scale(p.level)
            r = x - p.level
            if self.rows:
                p.record(r / scale)
            if robust and p.errors >= MIN_HISTORY:
                clip = CLIP_LEVEL * p.sd * scale
                r = max(-clip, min(clip, r))
            p.level += (alpha if self.rows else 1.0) * r
        for season, slot in zip(self._seasons, slots, strict=True):
            pred = season.predict(slot)
            scale = self._scale(pred)
            if self.rows and season.visits[slot] >= season.min_cycles:
                season.predictor.record((x - pred) / scale)
            # the profile learns with the spread of the level until it has a record of its own
            own = season.predictor if season.predictor.errors >= MIN_HISTORY else self._level
            sigma = (own.sd * scale) if own.errors >= MIN_HISTORY else math.inf
            season.learn(x, slot, sigma, season.slot_seconds / step, level_alpha)
