"""Signal rules for control and run charts: Western Electric, Nelson, Anhøj and NHS "Making Data Count".

Every rule is evaluated with numpy over the whole series at once; a million points take a few
tens of milliseconds. The functions here see only the points that are not missing, in chart order,
with a ``segment`` id per point (the phase, or one segment for a frozen baseline); windows never
reach across a segment boundary.

Conventions (``../shared/PRODUCT.md``, "Conventions"):

- a rule that looks at a window of m points is evaluated from the m-th point of a segment on; it
  flags the point that completes the pattern, which must itself meet the rule's condition, and every
  further point that continues it;
- every point is judged against its own limits and zones (variable n); zone boundaries are clipped
  like the control limits (a p chart's lower 2-sigma line never goes below 0), so "beyond" means
  strictly beyond the drawn line, and "within 1 sigma" includes the line (qcc);
- for Western Electric, Nelson and NHS runs a point exactly on the centre line breaks the run;
  the Anhøj rules drop such points before counting (qicharts2).

Rule ids
--------
``we1`` to ``we4`` (Western Electric), ``nelson1`` to ``nelson8``, ``anhoej_run`` and
``anhoej_crossings``, ``nhs_outside``, ``nhs_shift``, ``nhs_trend`` and ``nhs_two_of_three``
(NHS Making Data Count); :data:`RULE_SETS` groups them, :func:`rule_words` says each in words
(the one wording every page uses: "8 points in a row below the centre line"). Nelson 8 counts
points beyond 1 sigma with points on both sides (qcc); Anhøj's longest run allowed is
round(log2(n) + 3) and its fewest crossings the 5th percentile of Binomial(n - 1, 0.5).

References
----------
Western Electric Co. (1956) *Statistical Quality Control Handbook*.
Nelson, L. S. (1984) The Shewhart control chart — tests for special causes. *JQT* 16(4), 237-239.
Anhøj, J. & Olesen, A. V. (2014) Run charts revisited. *PLoS ONE* 9(11): e113825.
NHS England (2019) *Making Data Count*; R package NHSRplotthedots.
Scrucca, L. qcc: ``R/rules.R`` (the Nelson 8 "both sides" reading and the inclusive 1-sigma band).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.vocabulary import SignalLabel

RULE_SETS: dict[str, tuple[str, ...]] = {
    "we": ("we1", "we2", "we3", "we4"),
    "nelson": tuple(f"nelson{i}" for i in range(1, 9)),
    "anhoej": ("anhoej_run", "anhoej_crossings"),
    "nhs": ("nhs_outside", "nhs_shift", "nhs_trend", "nhs_two_of_three"),
}
ALL_RULES: tuple[str, ...] = tuple(r for rs in RULE_SETS.values() for r in rs)

#: Defaults of the configurable lengths (``run_length``, ``trend_length``): "N in a row on one
#: side" and "N in a row trending"; Nelson 2's run of 9 is fixed.
DEFAULT_RUN_LENGTHS: dict[str, int] = {"we4": 8, "nhs_shift": 7}
DEFAULT_TREND_LENGTHS: dict[str, int] = {"nelson3": 6, "nhs_trend": 7}
_RUNS = {**DEFAULT_RUN_LENGTHS, "nelson2": 9}
_K_OF_M = {"we2": (3, 2), "nelson5": (3, 2), "nhs_two_of_three": (3, 2), "we3": (5, 1),
           "nelson6": (5, 1)}  # fmt: skip


def rule_words(
    rule: str, direction: int = 0, *, run_length: int | None = None,
    trend_length: int | None = None,
) -> str:  # fmt: skip
    """A rule, or one of its signals, in plain words: the one wording of the charts' hover
    titles, the signal lists, the glossary and the capability warning, with the run or trend
    length the chart used and the signal's direction where it has one:
    ``rule_words("we4", -1) -> "8 points in a row below the centre line"``."""
    side = "above" if direction > 0 else "below" if direction < 0 else "on one side of"
    limit = (
        "the upper limit" if direction > 0 else "the lower limit" if direction < 0 else "a limit"
    )
    way = "rising" if direction > 0 else "falling" if direction < 0 else "rising or falling"
    if rule in ("we1", "nelson1", "nhs_outside"):
        return f"a point {'outside' if direction == 0 else side} {limit}"
    if rule in _RUNS:
        n = run_length if run_length is not None and rule in DEFAULT_RUN_LENGTHS else _RUNS[rule]
        return f"{n} points in a row {side} the centre line"
    if rule == "anhoej_run":
        return f"a longer run {side} the centre line than chance allows"
    if rule == "anhoej_crossings":
        return "fewer crossings of the centre line than chance allows"
    if rule in DEFAULT_TREND_LENGTHS:
        n = DEFAULT_TREND_LENGTHS[rule] if trend_length is None else trend_length
        return f"{n} points in a row {way}"
    if rule in _K_OF_M:
        m, z = _K_OF_M[rule]
        return f"{m - 1} of {m} points more than {z} sigma {side} the centre line"
    if rule == "nelson4":
        return "14 points in a row alternating up and down"
    if rule == "nelson7":
        return "15 points in a row within 1 sigma of the centre line"
    if rule == "nelson8":
        return "8 points in a row more than 1 sigma from the centre line, on both sides"
    raise KeyError(rule)


#: Every rule in words, at the default lengths.
RULE_DESCRIPTIONS: dict[str, str] = {r: rule_words(r) for r in ALL_RULES}

#: Rules that need sigma (zones or limits); they are not evaluated on a run chart.
NEEDS_LIMITS: frozenset[str] = frozenset(
    {"we1", "we2", "we3", "nelson1", "nelson5", "nelson6", "nelson7", "nelson8"}
    | {"nhs_outside", "nhs_two_of_three"}
)

#: Rules that judge a point against the 1- or 2-sigma zones (not drawn on g and t charts).
NEEDS_ZONES: frozenset[str] = frozenset(
    {"we2", "we3", "nelson5", "nelson6", "nelson7", "nelson8", "nhs_two_of_three"}
)
#: Rules that judge one point against its control limits (they also judge excluded points).
LIMIT_RULES: frozenset[str] = frozenset({"we1", "nelson1", "nhs_outside"})

LABELS = tuple(SignalLabel)


def describe_rule(
    rule: str, *, run_length: int | None = None, trend_length: int | None = None
) -> str:
    """The rule in words, with the run or trend length actually used (:func:`rule_words`)."""
    return rule_words(rule, run_length=run_length, trend_length=trend_length)


def resolve_rules(rules: str | Iterable[str] | None, *, has_limits: bool) -> tuple[str, ...]:
    """The rule ids to evaluate for a ``rules`` argument.

    ``None`` gives the default (Western Electric for charts with limits, Anhøj for run charts);
    a set name (``"we"``, ``"nelson"``, ``"anhoej"``, ``"nhs"``, ``"all"``), a rule id, or a tuple
    of these. Rules that need sigma are left out on charts without limits.
    """
    if rules is None:
        names: list[str] = ["we" if has_limits else "anhoej"]
    elif isinstance(rules, str):
        names = [rules]
    else:
        names = list(rules)
    out: list[str] = []
    for name in names:
        key = str(name).strip().lower()
        if key == "all":
            ids: tuple[str, ...] = ALL_RULES
        elif key in RULE_SETS:
            ids = RULE_SETS[key]
        elif key in RULE_DESCRIPTIONS:
            ids = (key,)
        else:
            known = ", ".join([*RULE_SETS, "all"])
            raise ValueError(f"unknown rule set {name!r}; choose from {known} or a rule id")
        out.extend(r for r in ids if r not in out)
    if not has_limits:
        out = [r for r in out if r not in NEEDS_LIMITS]
    # keep the canonical order so outputs are stable
    return tuple(r for r in ALL_RULES if r in out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Zones:
    """Per-point zone boundaries (already clipped like the chart's limits).

    ``lo1``/``hi1`` are centre -/+ 1 sigma, ``lo2``/``hi2`` -/+ 2 sigma and ``lcl``/``ucl`` the
    control limits; NaN where a point has no sigma (run charts, unestimable phases).
    """

    lo1: np.ndarray
    hi1: np.ndarray
    lo2: np.ndarray
    hi2: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStats:
    """Anhøj run statistics of one phase (or of the whole series in frozen-baseline mode).

    ``phase`` is None for the one entry over all points of a frozen-baseline chart.
    """

    phase: int | None
    n_useful: int
    longest_run: int | None
    longest_run_max: int | None
    crossings: int | None
    crossings_min: int | None

    @property
    def has_run_signal(self) -> bool:
        return self.longest_run is not None and self.longest_run > (self.longest_run_max or 0)

    @property
    def has_crossings_signal(self) -> bool:
        return self.crossings is not None and self.crossings < (self.crossings_min or 0)

    def to_dict(self) -> dict[str, int | None]:
        return {
            "phase": self.phase,
            "n_useful": self.n_useful,
            "longest_run": self.longest_run,
            "longest_run_max": self.longest_run_max,
            "crossings": self.crossings,
            "crossings_min": self.crossings_min,
        }


# --------------------------------------------------------------------------- building blocks


def _segment_starts(segment: np.ndarray) -> np.ndarray:
    start = np.ones(segment.shape[0], dtype=bool)
    if segment.shape[0] > 1:
        start[1:] = segment[1:] != segment[:-1]
    return start


def _position(start: np.ndarray) -> np.ndarray:
    """0-based position of each point inside its segment."""
    idx = np.arange(start.shape[0])
    first = np.maximum.accumulate(np.where(start, idx, 0))
    return idx - first


def _run_length(cond: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Length of the run of True values ending at each point (0 where cond is False),
    restarting at every segment start."""
    idx = np.arange(cond.shape[0], dtype=np.int64)
    # the last "break" at or before each point: a False point, or the slot before a segment start
    brk = np.full(cond.shape[0], -1, dtype=np.int64)
    s = np.nonzero(start)[0]
    brk[s] = s - 1
    f = np.nonzero(~cond)[0]
    brk[f] = f
    np.maximum.accumulate(brk, out=brk)
    out = idx - brk
    out[f] = 0
    return out


def _window_count(cond: np.ndarray, m: int, pos: np.ndarray) -> np.ndarray:
    """Number of True values among the last m points (-1 where fewer than m points of the
    segment are available)."""
    npts = cond.shape[0]
    count = np.full(npts, -1, dtype=np.int32)
    if npts >= m:
        cs = np.empty(npts + 1, dtype=np.int32)
        cs[0] = 0
        np.cumsum(cond, dtype=np.int32, out=cs[1:])
        count[m - 1 :] = cs[m:] - cs[: npts + 1 - m]
        count[pos < m - 1] = -1
    return count


def _k_of_m(above: np.ndarray, below: np.ndarray, k: int, m: int, pos: np.ndarray):
    up = above & (_window_count(above, m, pos) >= k)
    down = below & (_window_count(below, m, pos) >= k)
    return _directed(up, down)


def _directed(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = up.astype(np.int8)
    d[down] = -1
    return up | down, d


def _side_runs(side: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths above and below the centre line (a point on the line breaks both)."""
    return _run_length(side > 0, start), _run_length(side < 0, start)


def _trend_runs(value: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of consecutive strict increases (decreases) ending at each point."""
    prev = np.empty_like(value)
    prev[0] = np.nan
    prev[1:] = value[:-1]
    inc = (value > prev) & ~start
    dec = (value < prev) & ~start
    return _run_length(inc, start), _run_length(dec, start)


def _alternating(value: np.ndarray, m: int, start: np.ndarray, pos: np.ndarray):
    """m points in a row alternating up and down: m - 2 consecutive sign changes of the steps."""
    d = np.full(value.shape[0], np.nan)
    d[1:] = value[1:] - value[:-1]
    alt = np.zeros(value.shape[0], dtype=bool)
    alt[2:] = (d[2:] * d[1:-1]) < 0
    alt &= pos >= 2
    flag = _run_length(alt, start) >= m - 2
    return flag, np.zeros(value.shape[0], dtype=np.int8)


# --------------------------------------------------------------------------- rule evaluation


def evaluate_rules(
    value: np.ndarray,
    centre: np.ndarray,
    zones: Zones,
    segment: np.ndarray,
    rule_ids: Iterable[str],
    *,
    run_length: int | None = None,
    trend_length: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Evaluate Western Electric, Nelson and NHS rules on points that are not missing.

    Parameters
    ----------
    value, centre : 1-D float arrays of the plotted statistic and its centre line.
    zones : per-point zone boundaries (:class:`Zones`).
    segment : integer id per point; windows restart where it changes.
    rule_ids : the rules to evaluate (Anhøj rules are ignored here; see :func:`anhoej`).
    run_length : N of "N or more points in a row strictly on one side" for ``we4`` and
        ``nhs_shift`` (default 8 and 7); a point on the centre line breaks the run and the rule
        flags from the N-th point on.
    trend_length : N of "N points in a row all increasing or all decreasing" for ``nhs_trend``
        and ``nelson3`` (default 7 and 6).

    Returns
    -------
    dict mapping rule id to ``(flags, direction)``: a boolean array and an int8 array that is
    +1 when the signal points up (above the centre, increasing), -1 down, 0 without direction.
    """
    value = np.asarray(value, dtype=float)
    centre = np.asarray(centre, dtype=float)
    start = _segment_starts(np.asarray(segment))
    pos = _position(start)
    side = np.sign(value - centre)  # NaN centre -> NaN side: neither side, breaks runs
    with np.errstate(invalid="ignore"):
        hi3, lo3 = value > zones.ucl, value < zones.lcl
        hi2, lo2 = value > zones.hi2, value < zones.lo2
        hi1, lo1 = value > zones.hi1, value < zones.lo1
        # a zero-width band (sigma 0, e.g. a constant series) is no evidence of stratification
        within1 = (value >= zones.lo1) & (value <= zones.hi1) & (zones.hi1 > zones.lo1)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def beyond3():
        if "b3" not in cache:
            cache["b3"] = _directed(hi3, lo3)
        return cache["b3"]

    def kofm(k: int, m: int, z: int):
        key = ("k", k, m, z)
        if key not in cache:
            a, b = (hi2, lo2) if z == 2 else (hi1, lo1)
            cache[key] = _k_of_m(a, b, k, m, pos)
        return cache[key]

    runs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def run(m: int):
        if "side" not in runs:
            runs["side"] = _side_runs(side, start)
        above, below = runs["side"]
        return _directed(above >= m, below >= m)

    def trend(m: int):
        # m points in a row: m - 1 steps in one direction
        if "trend" not in runs:
            runs["trend"] = _trend_runs(value, start)
        inc, dec = runs["trend"]
        return _directed(inc >= m - 1, dec >= m - 1)

    for rule in rule_ids:
        if rule in ("we1", "nelson1", "nhs_outside"):
            out[rule] = beyond3()
        elif rule in ("we2", "nelson5", "nhs_two_of_three"):
            out[rule] = kofm(2, 3, 2)
        elif rule in ("we3", "nelson6"):
            out[rule] = kofm(4, 5, 1)
        elif rule in DEFAULT_RUN_LENGTHS:
            out[rule] = run(run_length or DEFAULT_RUN_LENGTHS[rule])
        elif rule == "nelson2":
            out[rule] = run(9)
        elif rule in DEFAULT_TREND_LENGTHS:
            out[rule] = trend(trend_length or DEFAULT_TREND_LENGTHS[rule])
        elif rule == "nelson4":
            out[rule] = _alternating(value, 14, start, pos)
        elif rule == "nelson7":
            flag = _run_length(within1, start) >= 15
            out[rule] = (flag, np.zeros(flag.shape[0], dtype=np.int8))
        elif rule == "nelson8":
            outside = hi1 | lo1
            m = 8
            flag = (
                (_run_length(outside, start) >= m)
                & (_window_count(hi1, m, pos) >= 1)
                & (_window_count(lo1, m, pos) >= 1)
            )
            out[rule] = (flag, np.zeros(flag.shape[0], dtype=np.int8))
        elif rule in ("anhoej_run", "anhoej_crossings"):
            continue
        else:
            raise ValueError(f"unknown rule {rule!r}")
    return out


def crossings_min(n_useful: np.ndarray | int) -> np.ndarray:
    """Fewest crossings expected: the 5th percentile of Binomial(n - 1, 0.5), as R's ``qbinom``.

    R's ``qbinom(p, ...)`` returns the smallest x with P(X <= x) >= p (with a relative fuzz of
    64 machine epsilons); ``scipy.stats.binom.ppf`` is corrected to the same definition.
    """
    size = np.maximum(np.asarray(n_useful, dtype=np.int64) - 1, 0)
    p = 0.05 * (1 - 64 * np.finfo(float).eps)
    k = np.asarray(stats.binom.ppf(0.05, size, 0.5), dtype=float)
    k = np.where(np.isnan(k), 0, k)
    # step down while the cdf one below already reaches p, and up while the cdf at k misses it
    for _ in range(2):
        lower = np.where(k > 0, stats.binom.cdf(k - 1, size, 0.5), 0.0) >= p
        k = np.where((k > 0) & lower, k - 1, k)
        k = np.where(stats.binom.cdf(k, size, 0.5) < p, k + 1, k)
    return k.astype(np.int64)


def longest_run_max(n_useful: np.ndarray | int) -> np.ndarray:
    """Longest run allowed: round(log2(n) + 3) (Schilling 2012; Anhøj & Olesen 2014)."""
    n = np.asarray(n_useful, dtype=float)
    with np.errstate(divide="ignore"):
        return (np.round(np.log2(np.where(n > 0, n, 1))) + 3).astype(np.int64)


def anhoej(
    value: np.ndarray,
    centre: np.ndarray,
    segment: np.ndarray,
    *,
    phase_of_segment: dict[int, int | None] | None = None,
) -> tuple[list[RunStats], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Anhøj run-chart statistics and signals per segment.

    Points exactly on the centre line (and points without a centre) are dropped before counting,
    so they neither break nor extend a run (qicharts2 ``runs.analysis``). ``anhoej_run`` flags,
    in every run longer than allowed, the point that makes it too long and every later point of
    that run; ``anhoej_crossings`` flags every useful point of a segment with too few crossings.

    Returns the per-segment :class:`RunStats` (in segment order) and the flags as in
    :func:`evaluate_rules`.
    """
    value = np.asarray(value, dtype=float)
    centre = np.asarray(centre, dtype=float)
    segment = np.asarray(segment)
    npts = value.shape[0]
    side = np.sign(value - centre)
    useful = (side != 0) & ~np.isnan(side)
    ui = np.nonzero(useful)[0]
    us, useg = side[ui], segment[ui]

    seg_ids, seg_first = np.unique(segment, return_index=True)
    order = np.argsort(seg_first)
    seg_ids = seg_ids[order]

    run_flag = np.zeros(npts, dtype=bool)
    run_dir = np.zeros(npts, dtype=np.int8)
    cross_flag = np.zeros(npts, dtype=bool)
    results: list[RunStats] = []
    if ui.shape[0]:
        # a new run starts where the side changes or a new segment begins
        new_run = np.ones(ui.shape[0], dtype=bool)
        new_run[1:] = (us[1:] != us[:-1]) | (useg[1:] != useg[:-1])
        run_id = np.cumsum(new_run) - 1
        run_start = np.nonzero(new_run)[0]
        run_len = np.diff(np.append(run_start, ui.shape[0]))
        run_seg = useg[run_start]
        pos_in_run = np.arange(ui.shape[0]) - run_start[run_id]
    for sid in seg_ids:
        phase = phase_of_segment.get(int(sid), int(sid)) if phase_of_segment else int(sid)
        in_seg = useg == sid
        n_useful = int(in_seg.sum())
        if n_useful == 0:
            results.append(
                RunStats(
                    phase=phase,
                    n_useful=0,
                    longest_run=None,
                    longest_run_max=None,
                    crossings=None,
                    crossings_min=None,
                )
            )
            continue
        runs_here = run_seg == sid
        lengths = run_len[runs_here]
        longest = int(lengths.max())
        lmax = int(longest_run_max(n_useful))
        crossings = int(lengths.shape[0] - 1)
        cmin = int(crossings_min(n_useful))
        results.append(
            RunStats(
                phase=phase,
                n_useful=n_useful,
                longest_run=longest,
                longest_run_max=lmax,
                crossings=crossings,
                crossings_min=cmin,
            )
        )
        if longest > lmax:
            hit = in_seg & (pos_in_run >= lmax)
            idx = ui[hit]
            run_flag[idx] = True
            run_dir[idx] = us[hit].astype(np.int8)
        if crossings < cmin:
            cross_flag[ui[in_seg]] = True
    flags = {
        "anhoej_run": (run_flag, run_dir),
        "anhoej_crossings": (cross_flag, np.zeros(npts, dtype=np.int8)),
    }
    return results, flags


def label_direction(direction: np.ndarray, better: str) -> np.ndarray:
    """Improvement / concern / neutral for signal directions, from the metric's ``better``."""
    direction = np.asarray(direction)
    if better == "higher":
        good, bad = direction > 0, direction < 0
    elif better == "lower":
        good, bad = direction < 0, direction > 0
    else:
        good = bad = np.zeros(direction.shape, dtype=bool)
    return np.where(
        good, SignalLabel.IMPROVEMENT, np.where(bad, SignalLabel.CONCERN, SignalLabel.NEUTRAL)
    )
