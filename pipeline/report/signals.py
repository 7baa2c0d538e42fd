"""Rule signals in plain words: what a reader sees in charts' hover titles, the signal lists and
the glossary (one home for the words; the rules themselves live in :mod:`pipeline.stats.rules`)."""

from __future__ import annotations

from pipeline.stats.rules import RULE_DESCRIPTIONS, RULE_SETS

__all__ = ["RULE_SET_NAMES", "glossary_rows", "rule_label", "signal_name"]

RULE_SET_NAMES = {
    "we": "Western Electric",
    "nelson": "Nelson",
    "anhoej": "Anhøj",
    "nhs": "NHS Making Data Count",
}
_RUNS = {"we4": 8, "nelson2": 9, "nhs_shift": 7}
_TRENDS = {"nelson3": 6, "nhs_trend": 7}
_K_OF_M = {"we2": (3, 2), "nelson5": (3, 2), "nhs_two_of_three": (3, 2), "we3": (5, 1),
           "nelson6": (5, 1)}  # fmt: skip
_NHS = {"nhs_outside": "outside", "nhs_shift": "shift", "nhs_trend": "trend",
        "nhs_two_of_three": "2 of 3"}  # fmt: skip


def rule_label(rule: str) -> str:
    """The rule's name in its set: ``"we4" -> "Western Electric 4"``, ``"nhs_shift" -> "NHS
    shift"``, ``"anhoej_run" -> "Anhøj longest run"``."""
    if rule.startswith("we"):
        return f"Western Electric {rule[2:]}"
    if rule.startswith("nelson"):
        return f"Nelson {rule[6:]}"
    if rule in _NHS:
        return f"NHS {_NHS[rule]}"
    if rule == "anhoej_run":
        return "Anhøj longest run"
    if rule == "anhoej_crossings":
        return "Anhøj crossings"
    return rule


def signal_name(rule: str, direction: int = 0) -> str:
    """A rule signal in plain words, with its direction where it has one:
    ``signal_name("we4", -1) -> "8 points in a row below the centre line"``."""
    side = "above" if direction > 0 else "below" if direction < 0 else "on one side of"
    limit = (
        "the upper limit" if direction > 0 else "the lower limit" if direction < 0 else "a limit"
    )
    way = "rising" if direction > 0 else "falling" if direction < 0 else "rising or falling"
    if rule in ("we1", "nelson1", "nhs_outside"):
        return f"a point {'outside' if direction == 0 else side} {limit}"
    if rule in _RUNS:
        return f"{_RUNS[rule]} points in a row {side} the centre line"
    if rule == "anhoej_run":
        return f"a longer run {side} the centre line than chance allows"
    if rule == "anhoej_crossings":
        return "fewer crossings of the centre line than chance allows"
    if rule in _TRENDS:
        return f"{_TRENDS[rule]} points in a row {way}"
    if rule in _K_OF_M:
        m, z = _K_OF_M[rule]
        return f"{m - 1} of {m} points more than {z} sigma {side} the centre line"
    if rule == "nelson4":
        return "14 points in a row alternating up and down"
    if rule == "nelson7":
        return "15 points in a row within 1 sigma of the centre line"
    if rule == "nelson8":
        return "8 points in a row more than 1 sigma from the centre line, on both sides"
    return RULE_DESCRIPTIONS.get(rule, rule)


_WHY = {
    "we1": "a single point this far out is rare (about 3 in 1,000) if nothing changed",
    "we2": "the third point may lie anywhere",
    "we3": "the fifth point may lie anywhere",
    "we4": "a shift in the process level",
    "nelson1": "as Western Electric 1",
    "nelson2": "a shift in the process level",
    "nelson3": "a drift: tool wear, learning, a slow change",
    "nelson4": "over-adjustment or two alternating sources (systematic, not random)",
    "nelson5": "as Western Electric 2",
    "nelson6": "as Western Electric 3",
    "nelson7": "too little variation: stratified subgroups or limits computed from mixed data",
    "nelson8": "a mixture of two processes (points avoid the centre)",
    "anhoej_run": "the longest run allowed is round(log2(n) + 3) for n useful points "
    "(points on the centre line are left out)",
    "anhoej_crossings": "the fewest crossings expected is the 5th percentile of "
    "Binomial(n − 1, 0.5)",
    "nhs_outside": "as Western Electric 1",
    "nhs_shift": "a shift in the process level",
    "nhs_trend": "a drift in the process",
    "nhs_two_of_three": "the third point may lie anywhere, as Western Electric 2",
}


def glossary_rows() -> list[tuple[str, str]]:
    """(term, explanation) for every rule of every set, in set order: the glossary's signals."""
    rows = []
    for rule_set, rules in RULE_SETS.items():
        for rule in rules:
            words = signal_name(rule)
            why = _WHY.get(rule, "")
            text = words[:1].upper() + words[1:] + (f": {why}." if why else ".")
            rows.append((f"{rule_label(rule)} ({rule}; {RULE_SET_NAMES[rule_set]} set)", text))
    return rows
