"""Numbers, dates and changes written for people: units, sensible precision, no NaN ever."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

NOT_ENOUGH = "not enough data"


def esc(value: object) -> str:
    """Text from data or configuration, escaped for HTML (None reads as empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) or (isinstance(value, float) and math.isinf(value))
    except (TypeError, ValueError):
        return False


def fmt_number(value: Any, *, unit: str = "", digits: int | None = None) -> str:
    """``1234.5 -> '1,234.5'``; precision follows magnitude unless ``digits`` is given."""
    if is_missing(value):
        return NOT_ENOUGH
    x = float(value)
    if digits is None:
        ax = abs(x)
        digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
    text = f"{x:,.{digits}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return f"{text} {unit}".strip() if unit and unit != "%" else f"{text}{unit}"


def fmt_percent(value: Any, *, digits: int = 0, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.314 -> '31%'``."""
    if is_missing(value):
        return NOT_ENOUGH
    x = float(value) * 100
    sign = "+" if signed and x > 0 else ""
    text = f"{sign}{x:,.{digits}f}%"
    return text.replace("-0%", "0%").replace("+0%", "0%")


def fmt_date(value: Any) -> str:
    """``2026-03-12 -> '12 Mar 2026'``."""
    if is_missing(value):
        return "no date"
    return pd.Timestamp(value).strftime("%-d %b %Y")


def fmt_count(value: Any) -> str:
    if is_missing(value):
        return NOT_ENOUGH
    return f"{int(round(float(value))):,}"


def json_safe(value: Any) -> Any:
    """Plain JSON types: NaN/inf become None, numpy scalars become Python, dates ISO strings."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
