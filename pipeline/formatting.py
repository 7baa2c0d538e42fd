"""Numbers, dates, changes and intervals written for people: units, sensible precision, no NaN ever.

The one home of every formatter the report, the portfolio and the email use. Conventions:

- a negative number is written with the minus sign U+2212 ("−3.2"), never the hyphen, and a
  value that rounds to zero never shows a sign ("0%", not "−0%");
- a missing number (None, NaN, inf) reads "not enough data";
- an interval's label is derived from ``alpha`` (:func:`interval_label`), never typed;
- a proportion is a percentage ("31%"); a difference of proportions is in percentage points;
- a chart's axis and margin write large and tiny figures compact (:func:`fmt_compact`:
  "1.10tn", "2.50×10⁻⁶"); tables and sentences keep the whole figure.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

NOT_ENOUGH = "not enough data"
#: The minus sign (U+2212) every negative number in text is written with.
MINUS = "\u2212"


#: Words a shortened text does not end on: "...and is holding, after…" left the reader waiting
#: for what came after.
_DANGLING = frozenset(
    "a an and after against at before by for from in its of on or since the to with".split()
)


def shorten(text: object, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut between words with an ellipsis (the one
    way every title, label, subject and headline is shortened). The cut never ends on a word
    that leads into what was cut ("after", "and", "the"), and a quotation cut open is closed
    ("after “Express…”"). A word longer than half the room is cut inside."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    for room in (limit - 1, limit - 2):  # the second leaves room for a closing quote
        cut = text[:room]
        if " " in cut[limit // 2 :]:
            cut = cut[: cut.rfind(" ")]
            words = cut.split(" ")
            while len(words) > 1 and _leads_on(words[-1]):
                words.pop()
            cut = " ".join(words)
        out = cut.rstrip(" ,;:-–—…")
        if out.count("“") <= out.count("”"):
            return out + "…"
        if len(out) + 2 <= limit:
            return out + "…”"
    return out[: limit - 2] + "…”"


def _leads_on(word: str) -> bool:
    """True for a word a cut text must not end on: one of :data:`_DANGLING`, or a dash or
    other punctuation alone ("—")."""
    bare = word.strip(",;:-–—").lower()
    return not bare or bare in _DANGLING


def sentence_case(text: str) -> str:
    """First letter upper case, the rest as written ('XmR' stays 'XmR', 'check --as-of'
    becomes 'Check --as-of'): a hint or label that starts a sentence of its own."""
    return text[:1].upper() + text[1:]


def esc(value: object) -> str:
    """Text from data or configuration, escaped for HTML (None reads as empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not finite or not a number.

    The one NaN-to-None conversion: results.json, the result objects' ``to_dict`` and every
    reader of them use it, so "no number" is always ``None`` (JSON ``null``). A bool is a flag,
    not a number, and gives None.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT, pd.NA and infinities (a value no sentence may show)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) or (isinstance(value, float) and math.isinf(value))
    except (TypeError, ValueError):
        return False


def _signed(text: str, *, signed: bool) -> str:
    """``text`` (a number formatted by Python) with U+2212 for its minus, no sign on a zero, and
    '+' on a positive number when ``signed``."""
    digits = text.lstrip("+-")
    is_zero = not any(c in "123456789" for c in digits)
    if is_zero:
        return digits
    if text.startswith("-"):
        return MINUS + digits
    return ("+" if signed else "") + digits


def fmt_number(
    value: Any,
    *,
    unit: str = "",
    digits: int | None = None,
    signed: bool = False,
    whole: bool = False,
) -> str:
    """``1234.5 -> '1,234.5'``, ``-0.25 -> '−0.25'``; precision follows magnitude unless
    ``digits`` is given (3 significant figures below 100, none after the point from 100); an
    exact zero reads "0" (a limit clipped at a bound of 0 read "0.000 hours").

    With ``whole`` the value is a count: a whole number reads without decimals (``4 -> '4'``,
    not '4.00'); a count's mean or a shift between counts keeps the usual precision. A unit
    that starts with '%' follows the number without a space (``'5.00% behind plan'``)."""
    if is_missing(value):
        return NOT_ENOUGH
    x = float(value)
    if digits is None:
        ax = abs(x)
        digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
        if x == 0 or (whole and x.is_integer()):  # a zero has no magnitude: "0 hours"
            digits = 0
    text = _signed(f"{x:,.{digits}f}", signed=signed)
    if whole and abs(x) == 1:
        unit = count_unit(unit, 1)
    return _with_unit(text, unit)


#: A chart's figures are compact (:func:`fmt_compact`) from this size up (a figure of seven
#: characters, "100,000", and more, which ran out of a chart's margins) and below
#: :data:`COMPACT_BELOW` (which :func:`fmt_number` writes "0.000").
COMPACT_FROM = 1e5
COMPACT_BELOW = 1e-3
#: Short-scale suffixes, largest first: thousand, million, billion, trillion.
_SUFFIXES = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def compact_scale(magnitude: float) -> tuple[float, str]:
    """The factor and suffix a compact figure of this size is written with: ``1.2e12 ->
    (1e12, 'tn')``, ``4.5e7 -> (1e6, 'M')``, ``3e-6 -> (1e-06, '×10⁻⁶')``; ``(1.0, '')`` for
    a figure :func:`fmt_number` writes short enough (and for zero, NaN and infinities). From a
    thousand trillion up, a power of ten too."""
    m = abs(float(magnitude))
    if not math.isfinite(m) or m == 0 or COMPACT_BELOW <= m < COMPACT_FROM:
        return 1.0, ""
    if m < 1e15:
        for factor, suffix in _SUFFIXES:
            if m >= factor:
                return factor, suffix
    exponent = math.floor(math.log10(m))
    return 10.0**exponent, "\u00d710" + str(exponent).translate(_SUPERSCRIPT)


def fmt_compact(
    value: Any,
    *,
    unit: str = "",
    digits: int | None = None,
    scale: tuple[float, str] | None = None,
    whole: bool = False,
) -> str:
    """A figure short enough for a chart's axis and margin: ``1.1028e12 -> '1.10tn'``,
    ``-4.56e7 -> '−45.6M'``, ``2.5e-6 -> '2.50×10⁻⁶'``, and as :func:`fmt_number` writes it
    between :data:`COMPACT_BELOW` and :data:`COMPACT_FROM` (``12345.6 -> '12,346'``).

    Three significant figures unless ``digits`` is given; ``scale`` (a :func:`compact_scale`)
    writes a set of figures, such as an axis's ticks, with one suffix. ``whole`` as for
    :func:`fmt_number`. The exact figure stays in the report's tables."""
    if is_missing(value):
        return NOT_ENOUGH
    x = float(value)
    if scale is None:
        # the scale of the figure as rounded: 999,950 is "1.00M", not "1,000k"
        scale = compact_scale(float(f"{x:.3g}"))
    factor, suffix = scale
    if x == 0 or not suffix:
        return fmt_number(x, unit=unit, digits=digits, whole=whole)
    y = x / factor
    if digits is None:
        ay = abs(float(f"{x:.3g}")) / factor  # 99,999 is "100k", not "100.0k"
        digits = 0 if ay >= 100 else 1 if ay >= 10 else 2
    return _with_unit(_signed(f"{y:,.{digits}f}", signed=False) + suffix, unit)


def _with_unit(text: str, unit: str) -> str:
    """A formatted number and its unit: a unit that starts with '%' without a space."""
    if not unit:
        return text
    return f"{text}{unit}" if unit.startswith("%") else f"{text} {unit}"


def count_unit(unit: str, n: float) -> str:
    """The unit of a count in the number of ``n``: one of them drops the plural 's' of the
    unit's first word (``('incidents', 1) -> 'incident'``, ``('defects per unit', -1) ->
    'defect per unit'``); any other number keeps the unit as configured (it is plural)."""
    if abs(n) != 1 or not unit:
        return unit
    first, sep, rest = unit.partition(" ")
    if len(first) > 2 and first.endswith("s") and not first.endswith("ss"):
        first = first[:-1]
    return first + sep + rest


def fmt_count_shift(value: Any, *, unit: str = "", signed: bool = True) -> str:
    """A shift between two samples of whole counts (a Hodges-Lehmann shift, a rank interval's
    end) in the count format: ``-1.0000036 -> '−1 incident'``, ``2.5 -> '+2.5 incidents'``.

    The median of differences of whole numbers is a whole or a half count, so the figure is
    written to the nearest half: the root-finder's last digits (R's wilcox.test gives
    -1.0000036 too) never show as '−1.00'."""
    if is_missing(value):
        return NOT_ENOUGH
    x = round(2 * float(value)) / 2
    text = _signed(f"{x:,.{0 if x.is_integer() else 1}f}", signed=signed)
    return _with_unit(text, count_unit(unit, x))


#: A unit that names a bounded scale: "score 0–10", "rating 1-5", "points 0 to 100".
_SCALE_UNIT = re.compile(
    r"^(?:score|rating|points?)\s+(?:from\s+)?(-?\d+(?:\.\d+)?)\s*(?:\u2013|-|to)\s*"
    r"(-?\d+(?:\.\d+)?)$",
    re.IGNORECASE,
)


def scale_of(unit: str) -> tuple[float, float] | None:
    """The ends of the scale a unit names (``'score 0–10' -> (0.0, 10.0)``), or None for any
    other unit. A value on such a scale reads "8.21 out of 10" (:func:`fmt_on_scale`): the unit
    after the number read "8.21 score 0–10"."""
    m = _SCALE_UNIT.match(unit.strip())
    return (float(m.group(1)), float(m.group(2))) if m else None


def fmt_on_scale(value: Any, unit: str) -> str:
    """A value on the scale its unit names: ``(8.21, 'score 0–10') -> '8.21 out of 10'``; any
    other unit as :func:`fmt_number` writes it."""
    scale = scale_of(unit)
    if scale is None or is_missing(value):
        return fmt_number(value, unit=unit)
    return f"{fmt_number(value)} out of {fmt_number(scale[1], whole=True)}"


def difference_unit(unit: str) -> str:
    """The unit of a difference between two values in ``unit``: "points" on a scale (a
    change of "+0.18 points", not "+0.18 out of 10"), the unit itself otherwise."""
    return "points" if scale_of(unit) is not None else unit


def percent_unit(unit: str) -> str:
    """The unit of a proportion shown as a percentage: "share of arrivals" -> "% of
    arrivals", "wafers" -> "% of wafers" (a p chart's unit names what n counts), "" -> "%".
    The axis of its chart and the metric's description both say this."""
    unit = unit.strip()
    if not unit or unit == "%":
        return "%"
    if unit.startswith("share "):
        return "% " + unit.removeprefix("share ")
    return f"% of {unit}"


def fmt_percent(value: Any, *, digits: int = 0, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.314 -> '31%'``, ``-0.004 -> '0%'``."""
    if is_missing(value):
        return NOT_ENOUGH
    return _signed(f"{float(value) * 100:,.{digits}f}", signed=signed) + "%"


def fmt_percent_value(value: Any, *, digits: int = 0, signed: bool = False) -> str:
    """A number that already is a percentage: ``-27.4 -> '−27%'``."""
    if is_missing(value):
        return NOT_ENOUGH
    return _signed(f"{float(value):,.{digits}f}", signed=signed) + "%"


def fmt_progress(value: Any) -> str:
    """A goal's progress, the share of the way from its baseline to its target covered, the one
    way every page writes it: ``62.4 -> '62%'``; moving away from the target is no share of the
    way, ``-134 -> '0% (moved away)'``, never a negative share."""
    if is_missing(value):
        return NOT_ENOUGH
    if float(value) < 0:
        return "0% (moved away)"
    return fmt_percent_value(value)


def fmt_points(value: Any, *, digits: int = 1, signed: bool = True) -> str:
    """A difference of two proportions (fractions) in percentage points:
    ``0.032 -> '+3.2 percentage points'``."""
    if is_missing(value):
        return NOT_ENOUGH
    return _signed(f"{float(value) * 100:,.{digits}f}", signed=signed) + " percentage points"


def fmt_ratio(value: Any) -> str:
    """A ratio (odds ratio, rate ratio) as the factor it multiplies by: ``0.083 -> '×0.083'``,
    ``1.5 -> '×1.50'``, ``12.3 -> '×12.3'`` (two significant figures at least, never '×0.00')."""
    if is_missing(value):
        return NOT_ENOUGH
    x = abs(float(value))
    digits = 2 if x >= 0.1 or x == 0 else 1 - math.floor(math.log10(x))
    if x >= 10:
        digits = 1 if x < 100 else 0
    return "\u00d7" + _signed(f"{float(value):,.{digits}f}", signed=False)


def fmt_money(value: Any, currency: str | None = None, *, digits: int = 0) -> str:
    """An amount in the project currency: ``(132440, 'EUR') -> 'EUR 132,440'``; without a
    configured currency the number alone (``'132,440'``)."""
    if is_missing(value):
        return NOT_ENOUGH
    text = fmt_number(value, digits=digits)
    return f"{currency} {text}" if currency else text


def fmt_pvalue(value: Any) -> str:
    """A p-value with three decimals, and ``'< 0.001'`` below that (never '0.000')."""
    if is_missing(value):
        return NOT_ENOUGH
    p = float(value)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def confidence_level(alpha: float) -> str:
    """The confidence level of a two-sided interval at ``alpha``: ``0.05 -> '95%'``,
    ``0.005 -> '99.5%'`` (rounded so that 1 - 0.1 reads 90, not 89.99999999999999)."""
    return f"{round(100 * (1 - float(alpha)), 6):g}%"


def interval_label(alpha: float) -> str:
    """The label of a (1 - alpha) confidence interval: ``0.05 -> '95% CI'``, ``0.2 -> '80% CI'``."""
    return f"{confidence_level(alpha)} CI"


def fmt_interval(
    low: Any,
    high: Any,
    *,
    alpha: float | None = None,
    fmt: Callable[[Any], str] = fmt_number,
) -> str:
    """``'25% to 29%'`` with each end through ``fmt``; with ``alpha``, led by its label
    (``'95% CI 25% to 29%'``); an open end reads "not enough data" for the whole interval."""
    if is_missing(low) or is_missing(high):
        return NOT_ENOUGH
    text = f"{fmt(low)} to {fmt(high)}"
    return f"{interval_label(alpha)} {text}" if alpha is not None else text


def _effect_digits(magnitude: float, unit: str) -> int:
    """Decimals of an effect figure of this size: percent 0 from 10 (1 below), percentage
    points 1, a difference in the metric's units as :func:`fmt_number` rounds it."""
    if unit == "percent":
        return 0 if magnitude >= 10 else 1
    if unit == "percentage_points":
        return 1
    return 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 0.1 else 3


def fmt_effect(value: Any, *, unit: str, signed: bool = True, digits: int | None = None) -> str:
    """The number of a verdict's effect figure in its ``unit`` (``percent``,
    ``percentage_points`` or ``difference``): ``'−31%'``, ``'+20.1'``, ``'+1.40'``; the caller
    adds a unit word. Its precision follows its own size unless ``digits`` is given."""
    if is_missing(value):
        return NOT_ENOUGH
    x = float(value)
    d = _effect_digits(abs(x), unit) if digits is None else digits
    if unit == "percent":
        return fmt_percent_value(x, digits=d, signed=signed)
    return fmt_number(x, digits=d, signed=signed)


def fmt_effect_interval(low: Any, high: Any, *, unit: str, alpha: float | None = None) -> str:
    """The interval of an effect figure, the one way every page writes it: both ends signed
    (the sign says which way, whatever the verb beside it) and at one precision, set by the
    larger end: ``'95% CI −35% to −27%'``, ``'−11% to +12%'``, ``'+17.7 to +22.2'``."""
    if is_missing(low) or is_missing(high):
        return NOT_ENOUGH
    d = _effect_digits(max(abs(float(low)), abs(float(high))), unit)
    text = f"{fmt_effect(low, unit=unit, digits=d)} to {fmt_effect(high, unit=unit, digits=d)}"
    return f"{interval_label(alpha)} {text}" if alpha is not None else text


def fmt_date(value: Any) -> str:
    """``2026-03-12 -> '12 Mar 2026'``."""
    if is_missing(value):
        return "no date"
    return pd.Timestamp(value).strftime("%-d %b %Y")


def stale_data_text(newest: Any, as_of: Any) -> str:
    """What the report and the email say of data the contracts found stale (``data_is_current``):
    'The newest data are from 27 Sep 2026, 9 weeks before the report date (4 Dec 2026): this
    report shows old data.'"""
    if is_missing(newest):
        return f"There are no data on or before the report date ({fmt_date(as_of)})."

    def day(value: Any) -> pd.Timestamp:
        t = pd.Timestamp(value)
        return (t.tz_localize(None) if t.tz is not None else t).normalize()

    days = (day(as_of) - day(newest)).days
    gap = count_of(days // 7, "week") if days >= 14 else count_of(days, "day")
    return (
        f"The newest data are from {fmt_date(newest)}, {gap} before the report date "
        f"({fmt_date(as_of)}): this report shows old data."
    )


def fmt_date_span(start: Any, end: Any) -> str:
    """``'1 Jan 2025 to 30 Jun 2025'``; ``'no baseline window'`` when neither end is known."""
    if is_missing(start) and is_missing(end):
        return "no baseline window"
    return f"{fmt_date(start)} to {fmt_date(end)}"


def fmt_count(value: Any) -> str:
    """A whole number with thousands separators: ``1234.4 -> '1,234'``."""
    if is_missing(value):
        return NOT_ENOUGH
    return _signed(f"{int(round(float(value))):,}", signed=False)


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and its noun in the right number: ``1 site``, ``4 sites``, never ``site(s)``."""
    return f"{fmt_count(n)} {noun if n == 1 else (plural or noun + 's')}"


def json_safe(value: Any) -> Any:
    """Plain JSON types: NaN/inf become None (:func:`finite`), numpy scalars Python ones, dates
    ISO strings; dicts and sequences are converted throughout."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


#: The first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection):
#: ``=``, ``+``, ``-``, ``@``, tab and carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def spreadsheet_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: a leading ``'`` before one that starts like a
    formula (``=cmd|' /C calc'!A0`` becomes ``'=cmd|' /C calc'!A0``).

    Only text is touched: numbers, dates, flags and missing values are returned as they are,
    and so is text that is a plain number ("-3.5"), which a spreadsheet reads as that number.

    References
    ----------
    OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
    return value


def spreadsheet_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV (no index) for a person to open in a spreadsheet: every text cell and
    column name goes through :func:`spreadsheet_cell`; numeric columns are written as pandas
    writes them, so a negative number stays a number.

    The one writer of every CSV the product hands to people (the report's downloads, the
    command line's ``--format csv``).
    """
    safe = frame.copy()
    for name in safe.columns:
        column = safe[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            safe[name] = column.map(spreadsheet_cell)
    safe.columns = [spreadsheet_cell(c) for c in safe.columns]
    return safe.to_csv(index=False)


def html_tables(*tables: tuple[str, pd.DataFrame]) -> str:
    """A notebook display of result tables, each under its caption: a result object's
    ``_repr_html_``.

    pandas writes the markup (its Styler escapes every cell and column heading); the caption,
    the one text the Styler leaves as it is, is escaped here. So the statistics layer gives a
    notebook cell tables without building HTML itself or importing the report's templates (the
    report's own pages come from the Jinja2 templates in ``pipeline/report/templates``). Cells
    are shown as they are: hand over text already formatted for people.
    """
    return "\n".join(
        frame.style.hide(axis="index")
        .format(escape="html", na_rep="")
        .format_index(escape="html", axis=1)
        .set_caption(esc(caption))
        .to_html()
        for caption, frame in tables
    )


def html_summary(summary: str) -> str:
    """A plain-text ``summary()`` as a notebook display: its first line as the caption, each
    further line a row (:func:`html_tables` escapes them)."""
    title, *lines = summary.splitlines() or [""]
    return html_tables((title, pd.DataFrame({"": [line.strip() for line in lines]})))
