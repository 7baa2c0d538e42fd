"""The ``kaizen-reports`` command line: parse options, call one pipeline function, map errors to exit codes.

Exit codes: 0 everything succeeded, 1 some site failed (or a critical contract failed), 2 usage or
configuration error; a run stopped by SIGINT (Ctrl-C) or SIGTERM leaves with 130 or 143, as a
process ended by that signal would, after one line saying how far it got.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from pipeline import __version__
from pipeline.exceptions import ConfigError, InputError, KaizenError, LockHeld, RunInterrupted
from pipeline.formatting import count_of, spreadsheet_csv
from pipeline.vocabulary import SHIFT_CHARTS, ChartType, RunStatus, Severity

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


#: Options several commands share.
project_option = click.option(
    "--project",
    "project_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The project's kaizen.yaml.",
)
output_option = click.option(
    "--output", type=click.Path(), help="Output folder (default: the project's)."
)


def load_project_for(project_file: str, output: str | None) -> Any:
    """The project of ``project_file``, its output folder replaced by ``--output`` when given,
    checked once whichever way it came (a file there is a ConfigError naming the setting)."""
    from dataclasses import replace
    from pathlib import Path

    from pipeline.data.config import load_project
    from pipeline.files import check_output_folder

    project = load_project(project_file)
    if output:
        project = replace(project, output=Path(output).resolve())
    check_output_folder(
        project.output, setting="--output" if output else f"output in {Path(project_file).name}"
    )
    return project


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


def entry() -> NoReturn:
    """The ``kaizen-reports`` console script: the command, then a quick way out.

    A run imports Great Expectations, pandas, statsmodels and matplotlib; tearing that
    interpreter down (freeing every module and object) took 2.3 s after the command had done its
    work, 1.2 s of it Great Expectations'. So once the command has finished (returned, or left
    with an exit code), this runs the exit handlers (they stop warm kernel processes, flush logs
    and remove temporary folders), flushes the standard streams and leaves with the command's
    exit code without the teardown. An uncaught exception still ends the usual way, with its
    traceback.
    """
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = EXIT_OK
    if code is None:
        code = EXIT_OK
    elif not isinstance(code, int):  # sys.exit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        code = EXIT_FAILED
    atexit._run_exitfuncs()  # the handlers Python would run before the teardown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``): nothing left to tell it
            pass
    os._exit(code)


# Commands are added below, one function per command; each calls one pipeline function.


def _report_run(result, quiet: bool) -> None:
    from pipeline.run.execute import NOTHING_TO_RESUME

    if result.resumed is False:
        click.echo(f"--resume: {NOTHING_TO_RESUME}", err=True)
    for outcome in result.failed_sites:
        click.echo(f"FAILED {outcome.site_id}: {outcome.error}", err=True)
    if not quiet:
        ok = len(result.sites) - len(result.failed_sites)
        click.echo(
            f"{ok} of {count_of(len(result.sites), 'site')} succeeded in {result.seconds:.1f}s; "
            f"portfolio: {result.index}",
            err=True,
        )
    click.echo(str(result.index))


def _run(project_file: str, output: str | None, **kwargs) -> None:
    from pipeline.run.interrupt import interruptible, leave_ignoring

    quiet = kwargs.pop("quiet", False)
    verbose = kwargs.pop("verbose", False)
    send = kwargs.pop("send", False)
    # from loading the project on, the first SIGINT or SIGTERM stops the run (a later one, a
    # second Ctrl-C, is ignored: it cannot break into the shutdown or the way out)
    with interruptible():
        try:
            from pipeline.run.execute import run_project
            from pipeline.run.progress import console_progress

            project = load_project_for(project_file, output)
            on_start, on_site_done, close = console_progress(quiet, verbose, kwargs.get("jobs"))
            try:
                result = run_project(
                    project, on_start=on_start, on_site_done=on_site_done, **kwargs
                )
            finally:
                close()
        except (ConfigError, InputError, LockHeld) as exc:
            fail_usage(exc)
            return
        except RunInterrupted as exc:  # what finished is kept; --resume does the rest
            leave_ignoring()
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)
    _report_run(result, quiet)
    code = result.exit_code
    if send:
        code = max(code, _send_after_run(project, result.as_of, quiet))
    sys.exit(code)


def _interruptible_send(send: Any, as_of: str | None) -> Any:
    """``send()`` (a call of ``send_run``) under the run's signal handling: SIGINT or SIGTERM
    stops it with one line and the shell's exit code (130, 143), not click's "Aborted!". What
    was sent is in the ledger, so running ``send`` again sends the rest."""
    from pipeline.run.interrupt import interruptible, leave_ignoring

    with interruptible():
        try:
            return send()
        except RunInterrupted as exc:
            leave_ignoring()
            again = "kaizen-reports send" + (f" --as-of {as_of}" if as_of else "")
            click.echo(
                "Interrupted while sending: the messages sent so far are in the send ledger; "
                f"run {again} to send the rest",
                err=True,
            )
            sys.exit(exc.exit_code)


def _send_after_run(project: Any, as_of: str, quiet: bool) -> int:
    """``run --send``: email the run just finished (failed sites go to the error recipients)."""
    from pipeline.delivery.send import send_run
    from pipeline.exceptions import DeliveryError

    try:
        result = _interruptible_send(
            lambda: send_run(
                project,
                as_of=as_of,
                on_message=None if quiet else (lambda m: click.echo(m.describe(), err=True)),
            ),
            as_of,
        )
    except (ConfigError, DeliveryError, LockHeld) as exc:
        click.echo(f"error: sending failed: {exc}", err=True)
        return EXIT_USAGE
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        click.echo(result.summary(), err=True)
    return int(result.exit_code)


@main.command("run")
@project_option
@output_option
@click.option("--as-of", "as_of", help="Report date, YYYY-MM-DD (default: today).")
@click.option("--site", "sites", multiple=True, help="Run only this site id (repeatable).")
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Parallel sites (default: number of cores)."
)
@click.option(
    "--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True
)
@click.option(
    "--scheduler", help="Dask scheduler address (with --executor dask; default: a local cluster)."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted run: skip the sites it finished, with its --as-of, --site, "
    "--force and --pdf unless given again. With no interrupted run, says so and runs as usual.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Run every site, even those whose inputs match their published report.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the portfolio path.")
@click.option("-v", "--verbose", is_flag=True, help="Per-site timings on every line.")
@click.option("--send", is_flag=True, help="Then email the reports, as the send command does.")
@click.option(
    "--pdf/--no-pdf",
    default=None,
    help="Also print each report to report.pdf (headless Chromium); default: kaizen.yaml's "
    "output.pdf, off unless set.",
)
@click.option(
    "--allow-future-as-of",
    is_flag=True,
    help="Accept an --as-of after today (refused otherwise: usually a typo). Such a run does "
    "not become OUT/latest while a run for today or earlier exists.",
)
def run_command(
    project_file, output, as_of, sites, jobs, executor, scheduler, resume, force, quiet, verbose,
    send, pdf, allow_future_as_of,
) -> None:  # fmt: skip
    """Validate the inputs and write every site's report, the portfolio page and the manifest.

    A site whose rows, configuration, notebook, contracts and report date all match its
    published report is not run again (the manifest says "unchanged"); --force runs it anyway.

    \b
    Example:
      kaizen-reports run --project kaizen.yaml --as-of 2026-11-27 --site fab-dresden
      kaizen-reports run --project kaizen.yaml --pdf --send   # report.pdf too, then email
      kaizen-reports run --project kaizen.yaml --resume       # after Ctrl-C or SIGTERM
    Exit codes: 0 all sites ok, 1 some site failed, 2 usage or configuration error,
    130 (SIGINT, Ctrl-C) or 143 (SIGTERM) interrupted: the finished sites are kept, and
    --resume finishes the run.
    """
    _run(
        project_file,
        output,
        as_of=as_of,
        site_ids=list(sites) or None,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        resume=resume,
        force=force,
        quiet=quiet,
        verbose=verbose,
        send=send,
        pdf=pdf,
        allow_future_as_of=allow_future_as_of,
    )


@main.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default="demo",
    show_default=True,
    help="Where to write the demo project.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="reports",
    show_default=True,
    help="Where to write the reports.",
)
@click.option("--as-of", "as_of", help="Report date, YYYY-MM-DD (default: today).")
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Parallel sites (default: number of cores)."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the portfolio path.")
def demo_command(directory, output, as_of, jobs, quiet) -> None:
    """Write a realistic demo project (4 sites) and run it; prints the portfolio page's path.

    --dir is a new folder or an earlier demo's: a folder holding another project (or input
    tables without one) is refused with exit 2, and nothing in it is touched.

    \b
    Example:
      kaizen-reports demo --dir demo --output reports
    """
    from pathlib import Path

    from pipeline.data.config import check_as_of, parse_as_of
    from pipeline.data.demo import write_demo_project

    try:
        stamp = check_as_of(parse_as_of(as_of))
    except ConfigError as exc:
        fail_usage(exc)
        return
    try:
        project_file = write_demo_project(
            Path(directory), as_of=stamp.date(), output=Path(output).resolve()
        )
    except ConfigError as exc:
        fail_usage(exc)
        return
    if not quiet:
        click.echo(f"demo project written to {project_file}", err=True)
    _run(str(project_file), None, as_of=stamp.date().isoformat(), jobs=jobs, quiet=quiet)


@main.command("impact")
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False))
@click.option(
    "--value",
    "value_col",
    required=True,
    help="Column with the measured value (for proportions/counts: the count x).",
)
@click.option(
    "--time",
    "time_col",
    required=True,
    help="Column with the period (dates or numbers), one row per period.",
)
@click.option(
    "--change-at",
    "change_at",
    required=True,
    help="First time value of the after window (the effective date): YYYY-MM-DD, or a number "
    "when the time column holds numbers.",
)
@click.option(
    "--transition-start",
    "transition_start",
    help="Start of the transition; rows from here up to --change-at are left out.",
)
@click.option(
    "--n",
    "n_col",
    help="Column with n (units inspected / exposure); required for --type proportion.",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["continuous", "proportion", "count"]),
    default="continuous",
    show_default=True,
)
@click.option(
    "--better",
    type=click.Choice(["lower", "higher", "neutral"]),
    default="neutral",
    show_default=True,
    help="Which direction is an improvement: sets the conclusion block's direction "
    "(improved, worsened, no_clear_change; increased or decreased when neutral) and sentence; "
    "no figure depends on it.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option(
    "--exact",
    is_flag=True,
    help="Exact rank test and Hodges-Lehmann interval, as R's wilcox.test(after, before, "
    "exact=TRUE, conf.int=TRUE); values must have no ties.",
)
def impact_command(csv_path, value_col, time_col, change_at, transition_start, n_col, kind, better, alpha, fmt, exact) -> None:  # fmt: skip
    """Before/after impact of one change on one metric, from a CSV with one row per period.

    Prints JSON with before, after, difference (after - before, Welch), percent_change, hedges_g,
    mann_whitney (U of the before sample, Hodges-Lehmann shift after - before) and
    segmented_regression (HAC and classical errors); proportions and counts add their ratio block
    and the model used, then a conclusion block (the --better direction, the direction found
    and a sentence: a classical reading that assumes independent periods, not the report's
    verdict). --format csv prints the same as block,statistic,value rows, text that would
    start a spreadsheet formula (=, +, -, @) behind a leading '.
    A measured series that does not vary (every value the same) has no standard error, interval
    or p-value: they are null, and the difference's method and segmented_regression's cov_type
    read "no variation: no test possible".

    \b
    Example:
      kaizen-reports impact cycle_time.csv --time week --value days --change-at 2026-03-02
      kaizen-reports impact defects.csv --time week --value defective --n inspected \\
          --change-at 2026-03-02 --transition-start 2026-02-09 --type proportion --format csv
      kaizen-reports impact cycle_time.csv --time week --value days --change-at 2026-03-02 --exact
    --exact: mann_whitney holds the exact two-sided p-value and the exact interval instead
    (small samples without ties: R's default there).
    """
    import json

    import pandas as pd

    from pipeline.exceptions import StatisticsError
    from pipeline.stats.impact import estimate_impact

    try:
        # every cell as written (only an empty cell is missing), as chart and capability read:
        # "N/A" is a value that is not a number, said so, not a silent gap
        raw = pd.read_csv(
            csv_path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True
        )
    except (OSError, ValueError) as exc:
        fail_usage(InputError(f"cannot read {csv_path}: {exc}"))
        return
    for col in (time_col, value_col, n_col):
        if col is not None and col not in raw.columns:
            fail_usage(
                InputError(
                    f"no column {col!r} in {csv_path}; columns: {', '.join(map(str, raw.columns))}",
                    column=col,
                )
            )
            return
    if kind == "proportion" and n_col is None:
        fail_usage(
            InputError(
                "--type proportion needs --n (the column with the units inspected)", column="n"
            )
        )
        return
    frame = pd.DataFrame({"time": raw[time_col], "value": raw[value_col]})
    if n_col is not None:
        frame["n"] = raw[n_col]
    numeric_time = pd.to_numeric(frame["time"], errors="coerce")
    if numeric_time.notna().all():
        frame["time"] = numeric_time
    else:
        # ISO 8601 only, as the project's tables: 03/02/2026 is 3 February in Europe and
        # 2 March in the US, and pandas would guess the latter without a word
        parsed = pd.to_datetime(frame["time"], errors="coerce", format="ISO8601")
        bad = _file_lines(csv_path, len(frame), frame.index[parsed.isna()])
        if bad:
            fail_usage(
                InputError(
                    "times that are neither numbers nor dates",
                    column=time_col,
                    rows=bad,
                    hint="rows are CSV line numbers; write dates as YYYY-MM-DD",
                )
            )
            return
        frame["time"] = parsed
        for option, text in (("--change-at", change_at), ("--transition-start", transition_start)):
            if text is not None and pd.isna(
                pd.to_datetime(text, errors="coerce", format="ISO8601")
            ):
                fail_usage(InputError(f"{option} {text!r} is not a date written YYYY-MM-DD"))
                return
    for col, name in (("value", value_col), ("n", n_col)):
        if col in frame:
            num = pd.to_numeric(frame[col], errors="coerce")
            unread = frame.index[num.isna() & frame[col].notna()]
            bad = _file_lines(csv_path, len(frame), unread)
            if bad:
                from pipeline.data.inputs import describe_bad_values

                why = describe_bad_values(frame.loc[unread[:5], col].astype(str), "number")
                fail_usage(
                    InputError(
                        "values that are not numbers",
                        column=name,
                        rows=bad,
                        hint="; ".join(h for h in ("rows are CSV line numbers", why) if h),
                    )
                )
                return
            try:
                _refuse_huge(num, name, path=csv_path)
            except InputError as exc:
                fail_usage(exc)
                return
            frame[col] = num
    try:
        result = estimate_impact(frame, change_at=change_at, transition_start=transition_start, kind=kind, alpha=alpha, better=better, exact=exact, metric=value_col)  # fmt: skip
    except StatisticsError as exc:
        columns = {"time": time_col, "value": value_col, "n": n_col}
        fail_usage(_in_file_terms(exc, csv_path, len(frame), columns))
        return
    conclusion = result.conclusion(value_col)
    if fmt == "json":
        payload = {**result.to_dict(), "conclusion": conclusion}
        click.echo(json.dumps(payload, indent=2, allow_nan=False))
    else:
        import pandas as pd

        rows = pd.DataFrame([("conclusion", k, v) for k, v in conclusion.items()],
                            columns=["block", "statistic", "value"])  # fmt: skip
        frame = pd.concat([result.to_frame(), rows], ignore_index=True)
        click.echo(spreadsheet_csv(frame), nl=False)


@main.command("send")
@project_option
@output_option
@click.option(
    "--as-of",
    "as_of",
    default="latest",
    show_default=True,
    help="The run to send, YYYY-MM-DD or latest.",
)
@click.option("--site", "sites", multiple=True, help="Send only this site id (repeatable).")
@click.option(
    "--dry-run", is_flag=True, help="Write each message as .eml next to the reports; send nothing."
)
@click.option("--force", is_flag=True, help="Send again what the send ledger says was sent.")
@click.option(
    "--only-changed",
    is_flag=True,
    help="Mail a recipient only if a verdict, icon or goal status changed since the last report "
    "sent to them, or a new concern signal appeared.",
)
@click.option(
    "--allow-stale", is_flag=True, help="Send reports whose data is stale (refused otherwise)."
)
@click.option(
    "--to",
    "to",
    multiple=True,
    help="Send everything to this address instead (repeatable; a test send).",
)
def send_command(
    project_file, output, as_of, sites, dry_run, force, only_changed, allow_stale, to
) -> None:
    """Email each site's report to its stakeholders; failed sites go to the error recipients.

    \b
    Example:
      KAIZEN_SMTP_PASSWORD=... kaizen-reports send --project kaizen.yaml --as-of 2026-11-27
      kaizen-reports send --project kaizen.yaml --only-changed   # only what changed
      kaizen-reports send --project kaizen.yaml --dry-run  # OUT/<as_of>/<site>/email-<to>.eml
    One message per recipient (nobody sees the others' addresses); the log states each
    message's size. SMTP settings: email.smtp in kaizen.yaml, overridden by KAIZEN_SMTP_HOST,
    _PORT, _SECURITY, _AUTH (password or xoauth2), _USERNAME (set but empty: no login),
    _PASSWORD and _TOKEN (environment only), _FROM, _TIMEOUT, _CA_FILE, _RETRIES, _BACKOFF.
    See docs/email.md.
    Sent messages are recorded in OUT/<as_of>/send-ledger.json; a rerun sends only the rest.
    Exit codes: 0 all sent, 1 some delivery failed, a stale report was refused or a site has no
    valid stakeholder address (named, with each address left out and why; the other sites are
    sent), 2 usage or configuration error, 130/143 stopped by Ctrl-C/SIGTERM (what was sent is in
    the ledger: run send again for the rest).
    """
    from pipeline.delivery.send import send_run
    from pipeline.exceptions import DeliveryError, LockHeld

    try:
        project = load_project_for(project_file, output)
        result = _interruptible_send(
            lambda: send_run(
                project,
                as_of=as_of,
                site_ids=list(sites) or None,
                dry_run=dry_run,
                force=force,
                to=list(to) or None,
                only_changed=only_changed,
                allow_stale=allow_stale,
                on_message=lambda m: click.echo(m.describe(), err=True),
            ),
            None if as_of in (None, "latest") else as_of,
        )
    except (ConfigError, DeliveryError, LockHeld) as exc:
        fail_usage(exc)
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.summary() + (f"; ledger: {result.ledger}" if result.ledger else ""), err=True)
    sys.exit(result.exit_code)


def _file_lines(path: str, records: int, positions: Any) -> list[int]:
    """The lines of the CSV file ``path`` (header = line 1) that the records at the 0-based
    ``positions`` start on, as an editor numbers them: the readers skip blank lines and let a
    quoted field run over several lines, so a position plus 2 is not always the line.
    ``records`` is how many records the file was read as."""
    from pathlib import Path

    from pipeline.data.csvlines import csv_row_numbers

    numbering = csv_row_numbers(Path(path), records=records)
    return [int(n) for n in numbering.lines([int(p) for p in positions])]


def _in_file_terms(
    exc: KaizenError, path: str, records: int, columns: dict[str, str | None]
) -> KaizenError:
    """``exc``, raised by a statistic of columns of the CSV file ``path``, in the file's terms:
    the column by its name in the file (``columns``: the statistic's name for it to the
    file's) and the rows (0-based positions) as the file's lines."""
    if exc.column in columns and columns[exc.column]:
        exc.column = columns[exc.column]
    if exc.rows:
        exc.rows = _file_lines(path, records, exc.rows)
        exc.hint = (exc.hint + ". " if exc.hint else "") + "rows are CSV line numbers"
    return exc


def _refuse_huge(num: Any, column: str, *, path: str) -> None:
    """InputError naming the column and CSV lines (of the file ``path``) of numbers beyond
    ±1e15 (or infinite), which would overflow the statistics instead of giving a message."""
    import numpy as np

    from pipeline.data.inputs import MAX_MAGNITUDE

    values = np.asarray(num, dtype="float64")
    huge = np.flatnonzero(~np.isnan(values) & (np.abs(values) > MAX_MAGNITUDE))
    if len(huge):
        raise InputError(
            f"numbers beyond ±1e15 such as {values[huge[0]]:g} (check the unit or a stray exponent)",
            column=column,
            rows=_file_lines(path, len(values), huge),
            hint="CSV line numbers",
        )


def _read_chart_csv(
    path: str,
    *,
    value: str,
    n_col: str | None,
    subgroup: str | None,
    time_col: str | None,
    phase_col: str | None,
    phase_at: tuple[str, ...],
) -> dict:
    """Read the ``chart`` command's CSV into the arguments of ``control_chart``.

    Empty fields are missing values; dates in the time column are parsed when every non-empty
    field is a date. Raises InputError with the column and rows of anything unreadable.
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from None
    for opt, col in (
        ("--value", value),
        ("--n", n_col),
        ("--subgroup", subgroup),
        ("--time", time_col),
        ("--phase-col", phase_col),
    ):
        if col is not None and col not in df.columns:
            known = ", ".join(map(str, df.columns))
            raise InputError(f"{opt}: no column {col!r} in {path} (columns: {known})")

    def numbers(col: str) -> pd.Series:
        raw = df[col].str.strip()
        num = pd.to_numeric(raw.where(raw != ""), errors="coerce")
        bad = num.isna() & (raw != "")
        if bad.any():
            rows = _file_lines(path, len(df), bad[bad].index[:5])
            raise InputError(
                f"non-numeric values such as {raw[bad].iloc[0]!r}",
                column=col,
                rows=rows,
                hint="CSV line numbers; empty fields are missing values",
            )
        _refuse_huge(num, col, path=path)
        return num.astype(float)

    args: dict = {"values": numbers(value).to_numpy()}
    if n_col:
        args["n"] = numbers(n_col).to_numpy()
    if subgroup:
        args["subgroups"] = df[subgroup].to_numpy()
    times = None
    if time_col:
        raw = df[time_col].str.strip()
        times = raw.where(raw != "")
        try:
            parsed = pd.to_datetime(times, format="ISO8601")
            times = parsed.astype(object).where(parsed.notna(), None)
            is_date = True
        except (ValueError, TypeError):
            is_date = False
        args["times"] = times.to_numpy()
    if phase_col:
        args["phases"] = df[phase_col].str.strip().replace("", None).to_numpy()
    elif phase_at:
        import numpy as np

        label = np.ones(len(df), dtype=np.int64)
        for k, start in enumerate(phase_at, start=2):
            if times is None:
                try:
                    row = int(start)
                except ValueError:
                    raise InputError(
                        f"--phase-at {start!r}: without --time give a data row number "
                        "(1 = the first row after the header)"
                    ) from None
                if not 1 <= row <= len(df):
                    raise InputError(
                        f"--phase-at {row}: the file has data rows 1 to {len(df)}"
                    ) from None
                hit = np.arange(len(df)) >= row - 1
            elif is_date:
                try:  # the time column's own format: 05/01/2026 was read as 1 May
                    at = pd.to_datetime(start, format="ISO8601")
                except ValueError:
                    raise InputError(
                        f"--phase-at {start!r} is not a date as the time column writes them "
                        "(YYYY-MM-DD)", column=time_col,
                    ) from None  # fmt: skip
                when = pd.to_datetime(times)
                hit = (when >= at).to_numpy()
                if not hit.any() or hit.all():  # a phase with no point was silently no phase
                    side = "after the last" if not hit.any() else "on or before the first"
                    span = f"{when.min().date()} to {when.max().date()}"
                    raise InputError(
                        f"--phase-at {start}: {side} time of the file ({span}), so one phase "
                        "would have no points",
                        column=time_col,
                    )
            else:
                match = np.nonzero((times == start).to_numpy())[0]
                if not match.shape[0]:
                    raise InputError(
                        f"--phase-at {start!r} is not a value of the time column", column=time_col
                    )
                hit = np.arange(len(df)) >= match[0]
            label[hit] = k
        args["phases"] = label
    return args


@main.command("chart")
@click.argument("csv_file", metavar="CSV", type=click.Path(dir_okay=False))
@click.option(
    "--chart",
    "chart_type",
    required=True,
    type=click.Choice([*(c.value for c in ChartType), *SHIFT_CHARTS]),
    help="Chart type (g, t: rare events as qicharts2; ewma, cusum: small shifts as qcc).",
)
@click.option(
    "--value",
    required=True,
    metavar="COL",
    help="Column of readings (defectives for p/np, counts for c/u).",
)
@click.option(
    "--n",
    "n_col",
    metavar="COL",
    help="Column of sample sizes / units (p, np, u, p_prime, u_prime).",
)
@click.option("--subgroup", metavar="COL", help="Column of subgroup keys (xbar_r, xbar_s, r, s).")
@click.option(
    "--time", "time_col", metavar="COL", help="Column of dates or labels carried to the output."
)
@click.option(
    "--phase-col", metavar="COL", help="Column whose value changes where a new phase starts."
)
@click.option(
    "--phase-at",
    multiple=True,
    metavar="VALUE",
    help="First time value of a new phase (repeatable); without --time the 1-based number of "
    "its data row (1 = the first row after the header).",
)
@click.option(
    "--exclude",
    "exclude_rows",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="ROW",
    help="Leave data row ROW (1-based, as --phase-at) out of the centre, sigma and runs "
    "analysis; it is still drawn and judged against the limits (repeatable).",
)
@click.option(
    "--sigma-method",
    type=click.Choice(["MR", "SD", "UWAVE-R", "UWAVE-SD"], case_sensitive=False),
    help="Sigma estimator: MR or SD (individuals), UWAVE-R or UWAVE-SD (subgroups); "
    "default as qcc (MR, UWAVE-R; UWAVE-SD for xbar_s and s).",
)
@click.option(
    "--run-length",
    type=click.IntRange(min=2),
    metavar="N",
    help="N points in a row on one side for Western Electric 4 and NHS (default 8 and 7).",
)
@click.option(
    "--trend-length",
    type=click.IntRange(min=2),
    metavar="N",
    help="N points in a row increasing or decreasing for NHS and Nelson 3 (default 7 and 6).",
)
@click.option(
    "--lambda",
    "lam",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.2,
    show_default=True,
    help="EWMA weight of the newest point.",
)
@click.option(
    "--nsigmas",
    type=click.FloatRange(0, min_open=True),
    default=3.0,
    show_default=True,
    help="EWMA limits in sigmas of the EWMA statistic.",
)
@click.option(
    "--k",
    "cusum_k",
    type=click.FloatRange(0),
    default=0.5,
    show_default=True,
    help="CUSUM reference value: half the shift to detect, in sigmas.",
)
@click.option(
    "--h",
    "cusum_h",
    type=click.FloatRange(0, min_open=True),
    default=5.0,
    show_default=True,
    help="CUSUM decision interval, in sigmas.",
)
@click.option("--freeze-baseline", is_flag=True, help="Judge every phase against phase 1's limits.")
@click.option(
    "--rules",
    default=None,
    metavar="we|nelson|anhoej|nhs|all",
    help="Rule sets to evaluate, comma-separated (default: we; anhoej for run charts).",
)
@click.option("--screen-mr", is_flag=True, help="Drop moving ranges >= 3.267 x their mean (NHS).")
@click.option(
    "--better",
    type=click.Choice(["lower", "higher", "neutral"]),
    default="neutral",
    show_default=True,
    help="Direction of improvement, for signal labels.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "png"]), default="json", show_default=True
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Output file (default: stdout; required for png).",
)
def chart_command(
    csv_file,
    chart_type,
    value,
    n_col,
    subgroup,
    time_col,
    phase_col,
    phase_at,
    exclude_rows,
    sigma_method,
    run_length,
    trend_length,
    lam,
    nsigmas,
    cusum_k,
    cusum_h,
    freeze_baseline,
    rules,
    screen_mr,
    better,
    fmt,
    out,
) -> None:
    """Compute one control chart from a CSV: limits, phases, run statistics and rule signals.

    \b
    Example:
      kaizen-reports chart lead_time.csv --chart xmr --value hours --time week \\
          --phase-at 2024-06-03 --rules all --better lower --exclude 7
      kaizen-reports chart defects.csv --chart p --value defective --n inspected \\
          --time day --format png --out defects.png
      kaizen-reports chart incidents.csv --chart g --value days_between --time date
      kaizen-reports chart rings.csv --chart ewma --value diameter --subgroup sample --lambda 0.2
      kaizen-reports chart lead_time.csv --chart cusum --value hours --k 0.5 --h 5
    Empty fields are missing values. Points are numbered from 1 (index), as --exclude and
    --phase-at count them; --format csv has one row per point with the JSON points' fields
    (and sigma), excluded among them when --exclude is given; a text cell (a time label) that
    would start a spreadsheet formula (=, +, -, @) gets a leading '.
    JSON keys: chart, sigma_method, phases, points, run_stats;
    ewma: chart, sigma_method, lambda, nsigmas, centre, sigma, points (with statistic);
    cusum: chart, sigma_method, k, h, centre, sigma, points (with cusum_upper, cusum_lower).
    g and t charts judge we1 and the Anhøj rules by default (qicharts2); for t the value is
    the time since the previous event (leave the first event's field empty).
    Exit codes: 0 ok, 2 bad input.
    """
    import json

    from pipeline.exceptions import StatisticsError
    from pipeline.stats.spc import control_chart

    if phase_col and phase_at:
        fail_usage("give either --phase-col or --phase-at, not both")
        return
    if fmt == "png" and not out:
        fail_usage("--format png needs --out FILE")
        return
    small_shift = chart_type in SHIFT_CHARTS
    if small_shift:
        given = [
            name
            for name, v in (
                ("--phase-col", phase_col),
                ("--phase-at", phase_at),
                ("--freeze-baseline", freeze_baseline),
                ("--rules", rules),
                ("--run-length", run_length),
                ("--trend-length", trend_length),
                ("--n", n_col),
            )
            if v
        ]
        if given:
            fail_usage(
                f"--chart {chart_type} has one phase and no run rules: drop {', '.join(given)}"
            )
            return
        if fmt == "png":
            fail_usage(f"--format png is not available for --chart {chart_type}; use json or csv")
            return
    rule_sets = tuple(r.strip() for r in rules.split(",") if r.strip()) if rules else None
    try:
        args = _read_chart_csv(
            csv_file,
            value=value,
            n_col=n_col,
            subgroup=subgroup,
            time_col=time_col,
            phase_col=phase_col,
            phase_at=phase_at,
        )
        nrows = len(args["values"])
        bad = [r for r in exclude_rows if r > nrows]
        if bad:
            raise InputError(f"--exclude {bad[0]}: the file has data rows 1 to {nrows}")
        exclude = [r - 1 for r in exclude_rows] if exclude_rows else None
        result: Any
        if small_shift:
            from pipeline.stats.smallshift import cusum_chart, ewma_chart

            common = {
                "values": args["values"],
                "subgroups": args.get("subgroups"),
                "times": args.get("times"),
                "sigma_method": sigma_method,
                "exclude": exclude,
                "better": better,
            }
            if chart_type == "ewma":
                result = ewma_chart(**common, lam=lam, nsigmas=nsigmas)
            else:
                result = cusum_chart(**common, k=cusum_k, h=cusum_h)
        else:
            result = control_chart(
                **args,
                chart=chart_type,
                freeze_baseline=freeze_baseline,
                rules=rule_sets,
                screen_mr=screen_mr,
                better=better,
                sigma_method=sigma_method,
                exclude=exclude,
                run_length=run_length,
                trend_length=trend_length,
            )
    except InputError as exc:
        fail_usage(exc)
        return
    except StatisticsError as exc:
        columns = {"values": value, "n": n_col, "subgroups": subgroup}
        fail_usage(_in_file_terms(exc, csv_file, len(args["values"]), columns))
        return
    if fmt == "png":
        from pipeline.report.plots.control import plot_control_chart

        image = plot_control_chart(result, title=value)
        _write_out(out, image.png)
        click.echo(f"wrote {out}", err=True)
        return
    # points are numbered from 1 in both formats, as --exclude and --phase-at count them, and
    # a phase's first and last point with them
    payload = result.to_dict()
    for point in payload["points"]:
        point["index"] += 1
    for phase in payload.get("phases", ()):  # EWMA and CUSUM have no phases
        phase["first"] += 1
        phase["last"] += 1
    if fmt == "json":
        text = json.dumps(payload, indent=2) + "\n"
    else:
        frame = result.to_frame()
        frame["index"] = [point["index"] for point in payload["points"]]
        frame["signals"] = [";".join(s) for s in frame["signals"]]
        if payload["points"] and "excluded" in payload["points"][0]:  # as in JSON: when asked
            frame["excluded"] = [point["excluded"] for point in payload["points"]]
        text = spreadsheet_csv(frame)
    if out:
        _write_out(out, text.encode("utf-8"))
    else:
        click.echo(text, nl=False)


def _write_out(out: str, data: bytes) -> None:
    """Write ``--out``; a folder that does not exist is a usage error (exit 2), not created:
    a typo in the path should not scatter new folders."""
    from pathlib import Path

    from pipeline.files import atomic_write_bytes

    folder = Path(out).parent
    if not folder.is_dir():
        fail_usage(f"--out {out}: the folder {str(folder)!r} does not exist")
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        fail_usage(f"--out {out}: cannot write the file ({exc.strerror or exc})")


def _read_table(path: str, columns: dict[str, str | None]):
    """Read a CSV as text (empty fields stay empty) and check that the named columns exist."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from None
    for opt, col in columns.items():
        if col is not None and col not in df.columns:
            known = ", ".join(map(str, df.columns))
            raise InputError(f"{opt}: no column {col!r} in {path} (columns: {known})")
    return df


@main.command("pareto")
@click.argument("csv_file", metavar="CSV", type=click.Path(dir_okay=False))
@click.option("--category", "category_col", required=True, metavar="COL", help="Category column.")
@click.option(
    "--count",
    "count_col",
    metavar="COL",
    help="Column of counts per row (default: each row counts 1).",
)
def pareto_command(csv_file, category_col, count_col) -> None:
    """Pareto table of defect or waste categories, as qcc's paretoChart(), printed as JSON.

    Categories are sorted by count, descending (ties by name); percent and cumulative_percent
    run from 0 to 100.

    \b
    Example:
      kaizen-reports pareto defects.csv --category category --count count
    JSON: {"categories": [{"category", "count", "percent", "cumulative_percent"}, ...]}.
    Exit codes: 0 ok, 2 bad input.
    """
    import json

    import pandas as pd

    from pipeline.exceptions import StatisticsError
    from pipeline.stats.pareto import pareto

    try:
        df = _read_table(csv_file, {"--category": category_col, "--count": count_col})
        counts = None
        if count_col:
            raw = df[count_col].str.strip()
            counts = pd.to_numeric(raw.where(raw != ""), errors="coerce")
            bad = counts.isna() & (raw != "")
            if bad.any():
                raise InputError(
                    f"non-numeric counts such as {raw[bad].iloc[0]!r}",
                    column=count_col,
                    rows=_file_lines(csv_file, len(df), bad[bad].index[:5]),
                    hint="CSV line numbers; empty fields count 0",
                )
            _refuse_huge(counts, count_col, path=csv_file)
        cats = df[category_col].str.strip()
        result = pareto(cats.where(cats != ""), counts)
    except StatisticsError as exc:
        columns = {"category": category_col, "count": count_col}
        fail_usage(_in_file_terms(exc, csv_file, len(df), columns))
        return
    except InputError as exc:
        fail_usage(exc)
        return
    click.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))


@main.command("capability")
@click.argument("csv_file", metavar="CSV", type=click.Path(dir_okay=False))
@click.option("--value", required=True, metavar="COL", help="Column of readings.")
@click.option(
    "--subgroup",
    metavar="COL",
    help="Column of subgroup keys: within sigma = mean R/d2(n) (default: MR/1.128).",
)
@click.option("--lsl", type=float, help="Lower specification limit.")
@click.option("--usl", type=float, help="Upper specification limit.")
@click.option("--target", type=float, help="Target value (gives Cpm).")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="1 - confidence level of the intervals.",
)
@click.option(
    "--transform",
    type=click.Choice(["none", "boxcox"]),
    default="none",
    show_default=True,
    help="boxcox: indices on (y^lambda - 1)/lambda, lambda by maximum likelihood.",
)
def capability_command(csv_file, value, subgroup, lsl, usl, target, alpha, transform) -> None:
    """Process capability (Cp, Cpl, Cpu, Cpk, Cpm, Pp, Ppk with intervals) as qcc's
    processCapability(), printed as JSON.

    Within sigma from the XmR or X-bar/R chart, overall sigma the sample standard deviation.
    Intervals: chi-square for Cp and Pp, Bissell with z(1 - alpha/2) for Cpk, Ppk, Cpl, Cpu,
    Boyles for Cpm. An index whose limit is missing is null. A process with control-chart
    signals gets a warning (on stderr and in "warnings").

    \b
    Example:
      kaizen-reports capability rings.csv --value diameter --subgroup sample \\
          --lsl 73.95 --usl 74.05 --target 74.02
      kaizen-reports capability waits.csv --value minutes --usl 30 --transform boxcox
    Exit codes: 0 ok, 2 bad input (including no limit at all).
    """
    import json

    from pipeline.exceptions import StatisticsError
    from pipeline.stats.capability import process_capability

    if lsl is None and usl is None:
        fail_usage("give at least one of --lsl and --usl")
        return
    try:
        args = _read_chart_csv(
            csv_file,
            value=value,
            n_col=None,
            subgroup=subgroup,
            time_col=None,
            phase_col=None,
            phase_at=(),
        )
        result = process_capability(
            args["values"],
            subgroups=args.get("subgroups"),
            lsl=lsl,
            usl=usl,
            target=target,
            alpha=alpha,
            transform=transform,
        )
    except InputError as exc:
        fail_usage(exc)
        return
    except StatisticsError as exc:
        columns = {"values": value, "subgroups": subgroup}
        fail_usage(_in_file_terms(exc, csv_file, len(args["values"]), columns))
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))


def _config_summary(failures: Sequence[Any], file_name: str) -> str:
    """The end of validate's summary line for kaizen.yaml: addresses send would leave out, and
    sites with no stakeholder at all ("" when there are neither)."""
    from pipeline.data.contracts import NO_STAKEHOLDERS

    none = sum(f.rule == NO_STAKEHOLDERS for f in failures)
    bad = len(failures) - none
    parts = []
    if bad:
        parts.append(
            f"{count_of(bad, 'email address', 'email addresses')} in {file_name} that send would leave out"
        )
    if none:
        parts.append(f"{count_of(none, 'site')} with no stakeholder in {file_name} to send to")
    return "".join(f"; {part}" for part in parts)


@main.command("validate")
@project_option
@click.option("--site", "sites", multiple=True, help="Check only this site id (repeatable).")
@click.option("--as-of", "as_of", help="Report date, YYYY-MM-DD (default: today).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or the full report as JSON.",
)
def validate_command(project_file, sites, as_of, fmt) -> None:
    """Check the input tables against the data contracts (data_contracts/*.json), and the email
    addresses of kaizen.yaml with the parser send uses.

    Prints one line per failed rule and site: table, rule, severity, the failing lines and what
    is wrong ("rule not met — " and the rule's expectation, with examples).
    Rows are the lines of the file a record starts on, as an editor numbers them (header = 1).
    An address send would leave out (a stakeholder, an error recipient, email.from), and a site
    with no stakeholder at all, is a warning naming the site, the setting and why.

    \b
    Example:
      kaizen-reports validate --project kaizen.yaml --as-of 2026-06-29 --site fab-dresden
    Exit codes: 0 no critical failure (warnings allowed), 1 a critical rule failed,
    2 usage or configuration error (including a table that cannot be read).
    """
    import json

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from pipeline.data.config import load_project
    from pipeline.data.contracts import describe_failure, failure_lines, validate_inputs

    try:
        project = load_project(project_file)
        report = validate_inputs(project, as_of=as_of, site_ids=list(sites) or None)
    except (ConfigError, InputError) as exc:
        fail_usage(exc)
        return
    exit_code = EXIT_OK if report.success else EXIT_FAILED
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        sys.exit(exit_code)
    console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)
    failures = [
        (f.site_id or "(every site)", f)
        for f in (*report.project_failures, *report.config_failures)
    ]
    for site_id, validation in report.sites.items():
        failures += [(site_id, f) for f in validation.failures]
    if failures:
        table = Table(title="Data-contract failures", show_lines=False)
        for name in ("site", "table", "column", "rule", "severity", "lines", "what is wrong"):
            table.add_column(name, overflow="fold")
        for site_id, f in failures:
            known = site_id in report.sites or site_id == "(every site)"
            label = site_id if known else f"{site_id} (not configured)"
            rows = failure_lines(f.rows, f.unexpected_count) or "-"
            what = describe_failure(
                table=f.table, column=f.column, description=f.description, rows=f.rows,
                unexpected_count=f.unexpected_count, examples=f.examples, hint=f.hint,
                with_where=False, with_lines=False,
            )  # fmt: skip
            colour = "red" if f.severity == Severity.CRITICAL else "yellow"
            # cells quote data (values such as "[/bold]"): Text objects are never read as markup
            table.add_row(
                *(Text(cell) for cell in (label, f.table, f.column or "", f.rule)),
                Text(str(f.severity), style=colour),
                Text(rows),
                Text(what),
            )
        console.print(table)
    counts = {status.value: 0 for status in RunStatus}
    for validation in report.sites.values():
        counts[validation.status] += 1
    console.print(
        f"{count_of(len(report.sites), 'site')}: {counts['ok']} ok, {counts['warnings']} with warnings, "
        f"{counts['failed']} failed; {report.sites and next(iter(report.sites.values())).rules_checked} "
        f"rules checked in {report.seconds:.1f}s"
        + _config_summary(report.config_failures, project.path.name),
        markup=False,
        highlight=False,
    )
    sys.exit(exit_code)


@main.command("notebook")
@project_option
@click.option("--site", "site_id", required=True, help="The site id.")
@click.option("--as-of", "as_of", help="Report date, YYYY-MM-DD (default: today).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where to write it (default: notebooks/SITE-ASOF beside kaizen.yaml).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the notebook of the same site and date even if it was edited.",
)
def notebook_command(
    project_file: str, site_id: str, as_of: str | None, directory, force: bool
) -> None:
    """Write one site's parameterised report notebook, with its validated data beside it, to
    explore in JupyterLab (every chart there is the report's own).

    \b
    Example:
      kaizen-reports notebook --project kaizen.yaml --site fab-dresden --as-of 2026-03-18
      jupyter lab notebooks/fab-dresden-2026-03-18/fab-dresden-2026-03-18.ipynb
    Prints the notebook's path and how to open it. Written again, its data are refreshed; a
    notebook you edited (or saved with outputs) is kept unless --force. Exit codes: 0 written,
    1 the site's data fails a critical contract rule, 2 usage or configuration error (an
    edited notebook in the way included: nothing is written).
    """
    from pathlib import Path

    from pipeline.data.config import load_project
    from pipeline.exceptions import ContractViolation
    from pipeline.run.explore import write_site_notebook

    try:
        project = load_project(project_file)
        written = write_site_notebook(
            project, site_id=site_id, as_of=as_of, directory=Path(directory) if directory else None,
            force=force,
        )  # fmt: skip
    except (ConfigError, InputError) as exc:
        fail_usage(exc)
        return
    except ContractViolation as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(written.summary(), err=True)
    click.echo(str(written.notebook))


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option(
    "--site", "site_id", default="my-site", show_default=True, help="The first site's id."
)
@click.option("--name", "site_name", default="My Site", show_default=True, help="Its display name.")
def init_command(directory: str, site_id: str, site_name: str) -> None:
    """Start a new project: a commented kaizen.yaml and example input tables in DIRECTORY.

    \b
    Example:
      kaizen-reports init northwind --site plant-a --name "Plant A, Leeds"
      kaizen-reports run --project northwind/kaizen.yaml
    The example tables (one metric, one improvement) validate and run as they are; replace
    their rows with your own. Exit codes: 0 written, 2 the folder already has a project or
    one of the files init writes (data/metrics.csv, observations.csv, events.csv): nothing
    is overwritten.
    """
    import shlex
    from pathlib import Path

    from pipeline.data.scaffold import write_new_project

    try:
        path = write_new_project(Path(directory), site_id=site_id, site_name=site_name)
    except ConfigError as exc:
        fail_usage(exc)
        return
    click.echo(
        f"new project written: {path}; next: kaizen-reports run --project {shlex.quote(str(path))}",
        err=True,
    )
    click.echo(str(path))
