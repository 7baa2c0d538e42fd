"""Kaizen Reports: measure the impact of Lean and Kaizen improvements, site by site.

The package is layered; a module imports from its own layer and the layers below it, never from
one above (``make lint`` checks it with import-linter, see ``pyproject.toml``)::

    cli.py          parse options, call one function, map errors to exit codes
      │
      ├── run/        execute the site notebooks: pool, kernels, lock, journal, manifest, publishing
      └── delivery/   email each site's report: compose, SMTP, ledger, sending
            │
    report/         the site model (analysis), findings, results.json, plots, HTML sections,
      │             the portfolio page, nbconvert rendering
    stats/          pure statistics: SPC charts and rules, impact, goals, culture, series
      │             (no files, no clock, no environment)
    data/           configuration, email addresses, input tables, data contracts, the demo and
      │             scaffold projects
      │
    exceptions.py, vocabulary.py,             the exception tree; chart types, verdicts and statuses;
    formatting.py, files.py                   numbers, intervals and dates for people; atomic
                                              writes and paths that stay in their folder

A number in a report travels upwards only: ``stats`` computes it into a frozen result,
``report.analysis`` gathers the results for a site, ``report.findings`` and ``report.sections``
hand it, formatted, to a Jinja2 template (``report/templates/site/``), ``report.results`` writes
it to results.json (schema: ``report/schemas/results.schema.json``), and ``delivery`` and
``report.portfolio`` read it back from there through ``report.results.load_results``.
"""

__version__ = "0.1.0"
