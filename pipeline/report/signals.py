"""Rule signals as a reader meets them: in the charts' hover titles, the signal lists and the
glossary, by name ("Western Electric 4") and in words. The words are the rules' own,
:func:`pipeline.stats.rules.rule_words`, with the lengths each chart used; here are the names and
the glossary's reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.stats.rules import RULE_SETS, rule_words

if TYPE_CHECKING:
    from pipeline.stats.spc import ControlChart

__all__ = ["RULE_SET_NAMES", "glossary_rows", "rule_label", "signal_name"]

RULE_SET_NAMES = {
    "we": "Western Electric",
    "nelson": "Nelson",
    "anhoej": "Anhøj",
    "nhs": "NHS Making Data Count",
}
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


def signal_name(rule: str, direction: int = 0, *, chart: ControlChart | None = None) -> str:
    """A rule signal in plain words, with its direction where it has one and the run or trend
    length its ``chart`` used: ``signal_name("we4", -1) -> "8 points in a row below the centre
    line"`` (the words are :func:`pipeline.stats.rules.rule_words`, the rules' one wording)."""
    if chart is None:
        return rule_words(rule, direction)
    return rule_words(rule, direction, run_length=chart.run_length, trend_length=chart.trend_length)


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


def glossary_rows(
    *, run_length: int | None = None, trend_length: int | None = None
) -> list[tuple[str, str]]:
    """(term, explanation) for every rule of every set, in set order: the glossary's signals,
    with the run and trend lengths the site's charts use."""
    rows = []
    for rule_set, rules in RULE_SETS.items():
        for rule in rules:
            words = rule_words(rule, run_length=run_length, trend_length=trend_length)
            why = _WHY.get(rule, "")
            text = words[:1].upper() + words[1:] + (f": {why}." if why else ".")
            rows.append((f"{rule_label(rule)} ({rule}; {RULE_SET_NAMES[rule_set]} set)", text))
    return rows
