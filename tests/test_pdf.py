"""report.pdf from headless Chromium (Debian's chromium), read back with poppler's pdftotext and
pdftoppm: running header, page numbers, statistics panels open, charts kept whole."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.report.pdf import compact_pdf, css_string, print_html, write_pdf

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_tools = pytest.mark.skipif(
    not os.environ.get("CI")
    and not (Path(CHROMIUM).exists() and shutil.which("pdftotext") and shutil.which("pdftoppm")),
    reason="chromium and poppler-utils are not installed (.ci/run installs them)",
)

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>r</title></head>
<body><h1>Atelier Oltrarno</h1>
<details><summary>Statistics</summary><p>Welch t-test hidden until opened</p></details>
{filler}
<figure><svg width="600" height="500"><rect width="600" height="500" fill="#ddd"/>
<text x="20" y="250">chart kept whole</text></svg></figure>
</body></html>"""


def test_css_string_cannot_leave_its_string():
    assert css_string('Bad "name" </style><script>') == (
        '"Bad \\22 name\\22  \\3c \\2f style\\3e \\3c script\\3e "'
    )
    html = print_html("<html><head></head><body></body></html>", site_name="A&B", as_of="2026")
    assert '"A\\26 B"' in html and html.index("@page") < html.index("</head>")


@needs_tools
def test_the_pdf_has_a_running_header_page_numbers_and_open_panels(tmp_path: Path):
    source = tmp_path / "report.html"
    filler = "".join(f"<p>Paragraph {i} of the findings.</p>" for i in range(60))
    source.write_text(PAGE.format(filler=filler), "utf-8")
    pdf = write_pdf(source, site_name="Atelier Oltrarno, Florence", as_of="2026-11-27")
    assert pdf == tmp_path / "report.pdf" and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert "Atelier Oltrarno, Florence" in page and "2026-11-27" in page
        assert f"Page {number} of {len(pages)}" in page
    assert "Welch t-test hidden until opened" in text  # the <details> panel printed open
    chart_pages = [i for i, page in enumerate(pages) if "chart kept whole" in page]
    assert len(chart_pages) == 1
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == len(pages) and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)

    # compacted (object streams, PDF 1.5) and still tagged for screen readers
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Tagged:          yes" in info and "PDF version:     1.5" in info


@needs_tools
def test_compacting_a_pdf_changes_no_pixel_no_text_and_keeps_its_tags(tmp_path: Path):
    """compact_pdf on the loose layout Chromium writes (every object on its own, as PDF 1.4):
    smaller, and poppler renders every page to the same pixels and reads the same text."""
    import pikepdf
    from PIL import Image, ImageChops

    source = tmp_path / "report.html"
    filler = "".join(
        f"<table><tr><th>Metric {i}</th><td>{i}.5 days</td></tr></table>" for i in range(80)
    )
    source.write_text(PAGE.format(filler=filler), "utf-8")
    printed = write_pdf(source, site_name="Atelier", as_of="2026-11-27")
    loose = tmp_path / "loose.pdf"
    with pikepdf.open(printed) as pdf:
        assert pdf.Root.get("/StructTreeRoot") is not None  # Chromium tagged it
        pdf.save(loose, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    compact = tmp_path / "compact.pdf"
    compact.write_bytes(compact_pdf(loose))
    assert compact.stat().st_size < 0.9 * loose.stat().st_size
    with pikepdf.open(compact) as pdf:
        assert pdf.Root.get("/StructTreeRoot") is not None
    texts = []
    for name in ("loose", "compact"):
        file = tmp_path / f"{name}.pdf"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "40", str(file), str(tmp_path / name)], check=True
        )
        texts.append(subprocess.run(["pdftotext", str(file), "-"], capture_output=True,
                                    text=True, check=True).stdout)  # fmt: skip
    assert texts[0] == texts[1] and "Metric 79" in texts[0]
    pages = sorted(tmp_path.glob("loose-*.png"))
    assert len(pages) >= 2
    for page in pages:
        with Image.open(page) as a, Image.open(str(page).replace("loose-", "compact-")) as b:
            assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
