"""Kaizen Reports: measure the impact of Lean and Kaizen improvements, site by site."""

__version__ = "0.1.0"
