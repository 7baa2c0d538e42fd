"""report.pdf beside report.html: the report printed by headless Chromium (Debian's chromium).

Chromium rather than WeasyPrint: the PDF is the same rendering engine as the browser test and
the readers' browsers (the report's inline SVG charts, CSS grid and print styles come out as on
screen), CSS paged media gives the running header and page numbers, and it adds no Python
dependency. The print copy gets a small head (``templates/print/print-head.html.j2``): ``@page``
margin boxes with the site and ``as_of``, charts and tables kept whole, statistics panels open.

Chromium writes PDF 1.4 with every object loose: the tagged structure (headings, tables, figures
with their alt text, for screen readers) is a third of the file. :func:`compact_pdf` packs the
objects into compressed object streams (PDF 1.5) with qpdf through pikepdf, losslessly: the
pages render to the same pixels and the tags stay. Measured figures are in docs/email.md.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2
import pikepdf
from markupsafe import Markup

from pipeline.exceptions import RenderError
from pipeline.files import atomic_write_bytes
from pipeline.report import palette

#: Where Debian puts it; ``KAIZEN_CHROMIUM`` names another binary.
CHROMIUM = "/usr/bin/chromium"
PDF_FILE = "report.pdf"


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string: everything but letters, digits and spaces is written as
    a CSS hex escape, so no quote, backslash or ``</style>`` can leave the string. Marked safe
    for Jinja2 because HTML escaping inside <style> would print ``&amp;`` literally."""
    out = []
    for ch in str(value):
        out.append(ch if ch.isascii() and (ch.isalnum() or ch == " ") else f"\\{ord(ch):x} ")
    return Markup('"' + "".join(out) + '"')


def css_colour(value: str) -> Markup:
    """A ``#rrggbb`` palette colour for a stylesheet (refuses anything else)."""
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ValueError(f"not a colour: {value!r}")
    return Markup(value)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["css_string"] = css_string
    env.filters["css_colour"] = css_colour
    return env


def chromium_path() -> str:
    """The Chromium binary, or RenderError saying how to get one."""
    path = os.environ.get("KAIZEN_CHROMIUM") or shutil.which("chromium") or CHROMIUM
    if not Path(path).exists():
        raise RenderError(
            "making PDFs needs Chromium: install the Debian package chromium "
            "(apt-get install chromium) or set KAIZEN_CHROMIUM to its path"
        )
    return path


def print_html(html: str, *, site_name: str, as_of: str) -> str:
    """The print copy of a report page: the print head inserted before ``</head>``."""
    head = (
        _environment()
        .get_template("print/print-head.html.j2")
        .render(header=site_name, as_of=as_of, muted=palette.MUTED)
    )
    # the head is a rendered template, inserted whole; nothing from data is spliced in here
    at = html.lower().rfind("</head>")
    return html[:at] + head + html[at:] if at >= 0 else head + html


def write_pdf(
    html_path: str | Path,
    pdf_path: str | Path | None = None,
    *,
    site_name: str,
    as_of: str,
    timeout: float = 120.0,
) -> Path:
    """Print ``html_path`` to ``pdf_path`` (default: report.pdf beside it), atomically.

    Raises
    ------
    RenderError
        Chromium is missing, fails or times out (the message says which).
    """
    source = Path(html_path)
    target = Path(pdf_path) if pdf_path is not None else source.with_name(PDF_FILE)
    binary = chromium_path()
    with tempfile.TemporaryDirectory(prefix="kaizen-pdf-") as tmp:
        page = Path(tmp) / "print.html"
        page.write_text(
            print_html(source.read_text(encoding="utf-8"), site_name=site_name, as_of=as_of),
            encoding="utf-8",
        )
        out = Path(tmp) / "report.pdf"
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RenderError(f"Chromium did not print {source} within {timeout:g} s") from None
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise RenderError(
                f"Chromium could not print {source} to PDF (exit {done.returncode})"
                + (f": {' / '.join(tail)}" if tail else "")
            )
        atomic_write_bytes(target, compact_pdf(out))
    return target


def compact_pdf(path: str | Path) -> bytes:
    """The PDF at ``path`` rewritten with compressed object streams (PDF 1.5), losslessly:
    content, fonts, links and the tagged structure are kept as they are; only how the objects
    are stored changes (a third smaller for a Chromium report). The document id is derived from
    the content, so the same PDF compacts to the same bytes."""
    buf = io.BytesIO()
    with pikepdf.open(path) as pdf:
        pdf.save(
            buf,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            compress_streams=True,
            recompress_flate=True,
            deterministic_id=True,
        )
    return buf.getvalue()
