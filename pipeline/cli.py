"""The ``kaizen-reports`` command line: parse options, call one pipeline function, map errors to exit codes.

Exit codes: 0 everything succeeded, 1 some site failed (or a critical contract failed), 2 usage or
configuration error.
"""

from __future__ import annotations

import sys

import click

from pipeline import __version__
from pipeline.exceptions import ConfigError, InputError, KaizenError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def fail_usage(exc: KaizenError | str) -> None:
    """Print a usage/configuration error and leave with exit code 2."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kaizen-reports")
def main() -> None:
    """Kaizen Reports: per-site Lean and Kaizen impact reports.

    \b
    Example:
      kaizen-reports demo                      # sample project, every site, reports/
      kaizen-reports run --project kaizen.yaml --as-of 2026-11-27
    """


# Commands are added below, one function per command; each calls one pipeline function.
