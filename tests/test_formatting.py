"""The one formatting module: signs, zeros, percentages, points, p-values and interval labels."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline import formatting as f

MINUS = "\u2212"


@pytest.mark.parametrize(
    ("alpha", "label"),
    [(0.05, "95% CI"), (0.1, "90% CI"), (0.2, "80% CI"), (0.01, "99% CI"), (0.005, "99.5% CI")],
)
def test_interval_label_is_derived_from_alpha(alpha: float, label: str) -> None:
    assert f.interval_label(alpha) == label


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (-3.25, {}, f"{MINUS}3.25"),
        (-0.0001, {}, "0.000"),
        (0.0, {"unit": "hours"}, "0 hours"),
        (-0.004, {"digits": 2}, "0.00"),
        (1234.6, {}, "1,235"),
        (12.34, {"unit": "hours"}, "12.3 hours"),
        (2.5, {"signed": True}, "+2.50"),
        (-1234.5, {"digits": 1}, f"{MINUS}1,234.5"),
        (math.nan, {}, "not enough data"),
    ],
)
def test_fmt_number(value: float, kwargs: dict[str, object], text: str) -> None:
    assert f.fmt_number(value, **kwargs) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (1.1028e12, {}, "1.10tn"),
        (9.97e11, {}, "997bn"),
        (-4.56e7, {}, f"{MINUS}45.6M"),
        (123_456, {}, "123k"),
        (99_999, {}, "100k"),  # rounded first: not "100.0k"
        (999_950, {}, "1.00M"),  # not "1,000k"
        (12_345.6, {}, "12,346"),  # below COMPACT_FROM: as fmt_number writes it
        (2.5e-6, {}, "2.50\u00d710\u207b\u2076"),
        (3.3e17, {}, "3.30\u00d710\u00b9\u2077"),
        (0.0, {}, "0"),
        (-1e-3, {"scale": (1e12, "tn")}, "0.00tn"),  # no minus on a figure that rounds to 0
        (9.5e11, {"scale": (1e12, "tn"), "digits": 2}, "0.95tn"),  # an axis's one suffix
        (2_000_000, {"unit": "incidents", "whole": True}, "2.00M incidents"),
        (math.inf, {}, "not enough data"),
    ],
)
def test_fmt_compact(value: float, kwargs: dict[str, object], text: str) -> None:
    assert f.fmt_compact(value, **kwargs) == text  # type: ignore[arg-type]


def test_percentages_never_show_minus_zero() -> None:
    assert f.fmt_percent(-0.004) == "0%"
    assert f.fmt_percent(-0.004, signed=True) == "0%"
    assert f.fmt_percent(-0.314) == f"{MINUS}31%"
    assert f.fmt_percent(0.314, signed=True) == "+31%"
    assert f.fmt_percent_value(-27.4) == f"{MINUS}27%"
    assert f.fmt_percent_value(-0.2, digits=0, signed=True) == "0%"
    assert f.fmt_points(0.032) == "+3.2 percentage points"
    assert f.fmt_points(-0.2) == f"{MINUS}20.0 percentage points"


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0004, "< 0.001"), (0.001, "0.001"), (0.1234, "0.123"), (None, "not enough data")],
)
def test_pvalues(p: float | None, text: str) -> None:
    assert f.fmt_pvalue(p) == text


def test_intervals() -> None:
    assert f.fmt_interval(-1.5, 2.25) == f"{MINUS}1.50 to 2.25"
    assert f.fmt_interval(0.25, 0.29, alpha=0.1, fmt=f.fmt_percent) == "90% CI 25% to 29%"
    assert f.fmt_interval(None, 2.0) == "not enough data"


def test_effect_intervals_have_one_sign_convention_and_one_precision() -> None:
    """Both ends signed, whichever way the figure went, and one precision set by the larger end:
    a tile once read "−11.0% to +12.3%" where the portfolio read "−11% to +12%"."""
    m = MINUS
    assert f.fmt_effect_interval(-11.04, 12.31, unit="percent") == f"{m}11% to +12%"
    assert f.fmt_effect_interval(-35.2, -27.4, unit="percent", alpha=0.05) == (
        f"95% CI {m}35% to {m}27%"
    )
    assert f.fmt_effect_interval(-45.0, 1.7, unit="percent") == f"{m}45% to +2%"
    assert f.fmt_effect_interval(-4.26, 1.7, unit="percent") == f"{m}4.3% to +1.7%"
    assert f.fmt_effect_interval(17.7, 22.2, unit="percentage_points") == "+17.7 to +22.2"
    assert f.fmt_effect_interval(-3.9, -3.02, unit="difference") == f"{m}3.90 to {m}3.02"
    assert f.fmt_effect_interval(None, 1.0, unit="percent") == "not enough data"
    assert f.fmt_effect(0.71, unit="percent") == "+0.7%"
    assert f.fmt_effect(31.4, unit="percent", signed=False) == "31%"


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, "x", True, float("nan")])
def test_finite_is_the_one_nan_to_none(value: object) -> None:
    assert f.finite(value) is None


def test_finite_keeps_numbers() -> None:
    import numpy as np

    assert f.finite(np.float32(1.5)) == 1.5
    assert f.finite("2") == 2.0
    assert f.json_safe({"a": [np.nan, np.int64(3)], "b": math.inf}) == {"a": [None, 3], "b": None}


def test_no_text_counts_with_a_bracketed_plural() -> None:
    """Counts read in words ("1 period", "3 periods"), never "period(s)": every message and
    reason of the package (its string literals) and every template goes through ``count_of``;
    only the lines that state the rule ("never ...", "reads like a form") may quote it."""
    import io
    import re
    import tokenize
    from pathlib import Path

    root = Path(f.__file__).parent
    bracketed = re.compile(r"[a-z]\(s\)(?![)\]])")  # not a call such as share(s) in an f-string
    hits = []
    for path in sorted(root.rglob("*.j2")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if bracketed.search(line) and "reads like" not in line:
                hits.append(f"{path.relative_to(root)}:{n}")
    texts = {
        tokenize.STRING,
        getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING),
    }  # 3.12 splits f-strings
    for path in sorted(root.rglob("*.py")):
        source = io.StringIO(path.read_text(encoding="utf-8")).readline
        for tok in tokenize.generate_tokens(source):
            if tok.type in texts and bracketed.search(tok.string) and "never" not in tok.string:
                hits.append(f"{path.relative_to(root)}:{tok.start[0]}")
    assert hits == []


def test_counts_read_whole_and_their_means_keep_the_house_precision() -> None:
    """A month's incidents read "4 incidents", never "4.00"; their mean stays "1.50"."""
    assert f.fmt_number(4.0, unit="incidents", whole=True) == "4 incidents"
    assert f.fmt_number(1.5, unit="incidents", whole=True) == "1.50 incidents"
    assert f.fmt_number(-1.0, whole=True, signed=True) == f"{MINUS}1"
    assert f.fmt_number(4.0, unit="incidents") == "4.00 incidents"  # a measurement keeps it


def test_one_count_is_singular_and_a_shift_between_counts_reads_as_counts() -> None:
    """A Hodges-Lehmann shift between monthly incident counts read "−1.00 incidents (95% CI
    −2.00 to 0.000)": R's wilcox.test(after, before, conf.int = TRUE) on the demo's counts gives
    -1.000004 and -2.000016 to 2.8e-05 (its root-finder's digits); the median of differences of
    whole numbers is a whole or half count, and one incident is singular."""
    assert f.fmt_number(1.0, unit="incidents", whole=True) == "1 incident"
    assert f.fmt_number(-1.0, unit="defects per unit", whole=True) == f"{MINUS}1 defect per unit"
    assert f.fmt_number(1.0, unit="incidents") == "1.00 incidents"  # a measurement keeps it
    assert f.fmt_count_shift(-1.000003638989279, unit="incidents") == f"{MINUS}1 incident"
    assert f.fmt_count_shift(2.8224895057055456e-05) == "0"
    assert f.fmt_count_shift(-2.0000160269557643) == f"{MINUS}2"
    assert f.fmt_count_shift(8.999974435959475, unit="days") == "+9 days"
    assert f.fmt_count_shift(-1.4999, unit="incidents") == f"{MINUS}1.5 incidents"
    assert f.fmt_count_shift(float("nan")) == f.NOT_ENOUGH
    assert f.count_unit("hours", 2) == "hours" and f.count_unit("glass", 1) == "glass"


def test_a_proportions_unit_is_a_percentage_of_what_n_counts() -> None:
    assert f.percent_unit("wafers") == "% of wafers"
    assert f.percent_unit("share of arrivals") == "% of arrivals"
    assert f.percent_unit("") == "%"


def test_a_value_on_a_named_scale_reads_out_of_its_top() -> None:
    # a tile read "8.21 score 0–10"
    assert f.scale_of("score 0–10") == (0.0, 10.0)
    assert f.scale_of("rating 1-5") == (1.0, 5.0)
    assert f.scale_of("points 0 to 100") == (0.0, 100.0)
    for unit in ("minutes", "score", "complaints per 100 stays", "% of wafers"):
        assert f.scale_of(unit) is None, unit
        assert f.difference_unit(unit) == unit
    assert f.fmt_on_scale(8.214, "score 0–10") == "8.21 out of 10"
    assert f.fmt_on_scale(4.5, "rating 1-5") == "4.50 out of 5"
    assert f.fmt_on_scale(8.214, "minutes") == "8.21 minutes"
    assert f.difference_unit("score 0–10") == "points"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain words", "plain words"),
        ("a=b", "a=b"),
        ("-3.5", "-3.5"),  # text that is a number is read as that number, not run
        ("-", "'-"),
        (-3.5, -3.5),
        (None, None),
    ],
)
def test_a_cell_that_starts_like_a_formula_is_kept_as_text(cell, safe) -> None:
    # OWASP CSV injection: a leading ' makes Excel and LibreOffice show the cell as text
    assert f.spreadsheet_cell(cell) == safe


def test_spreadsheet_csv_escapes_text_and_leaves_numbers_alone() -> None:
    import io

    frame = pd.DataFrame(
        {
            "metric": ["=2+3 lead", "ok"],
            "value": [-3.5, 2.0],  # a negative number in a numeric column stays a number
            "mixed": [-1.25, "=1+1"],  # an object column: only its text is escaped
            "label": pd.Categorical(["@x", "y"]),
        }
    )
    back = pd.read_csv(io.StringIO(f.spreadsheet_csv(frame)), dtype=str)
    assert back["metric"].tolist() == ["'=2+3 lead", "ok"]
    assert back["value"].tolist() == ["-3.5", "2.0"]
    assert back["mixed"].tolist() == ["-1.25", "'=1+1"]
    assert back["label"].tolist() == ["'@x", "y"]


def test_shorten_keeps_to_its_limit_and_ends_on_a_word_that_stands() -> None:
    """Every shortened text fits its limit, ends with an ellipsis (after a closing quotation
    mark if it cut one open) and not on a word that leads into the cut."""
    import itertools

    from pipeline.formatting import _DANGLING, shorten

    words = "Express check-in “WIP caps and dispatch” rules after the of, supercalifragilistic —"
    pool = words.split()
    for n, limit in itertools.product(range(1, 16), range(3, 60, 4)):
        text = " ".join(pool[(n * k) % len(pool)] for k in range(n))
        out = shorten(text, limit)
        assert len(out) <= limit, (text, limit, out)
        if len(" ".join(text.split())) <= limit:
            assert out == " ".join(text.split())
            continue
        assert out.endswith(("…", "…”")), out
        assert out.count("“") <= out.count("”"), out
        last = out.removesuffix("”").removesuffix("…").split(" ")
        if len(last) > 1:
            assert last[-1].strip(",;:-–—").lower() not in _DANGLING, out
