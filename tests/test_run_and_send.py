"""A real run's reports, emailed through a real SMTP server on loopback: the email carries the
numbers of results.json, its cid: images resolve, and the report is attached."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.report.results import load_results
from tests.conftest import AS_OF, write_mini_project
from tests.mail_fixtures import SmtpServer, smtp_env

# slow; and one xdist worker runs the whole module, so its module-scoped fixture runs once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("run_and_send")]

EMAIL = """
email:
  from: "Kaizen Reports <kaizen@example.com>"
  error_recipients: [analytics@example.com]
"""


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """``run --pdf --send`` of the mini project into a real SMTP server on loopback: the run
    folder and the messages received."""
    tmp_path = tmp_path_factory.mktemp("run-send")
    project_file = write_mini_project(tmp_path / "p")
    project_file.write_text(project_file.read_text() + EMAIL)
    with SmtpServer() as server:
        env = {**os.environ, **smtp_env(server.port)}
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--project", str(project_file),
             "--as-of", AS_OF, "--pdf", "--send"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        received = list(server.received)
    return tmp_path / "p" / "out" / AS_OF, received


def test_run_send_delivers_each_site_report_from_results_json(sent) -> None:
    out, received = sent
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "ops-north@example.com", "ops-south@example.com"
    ]  # fmt: skip
    for r in received:
        msg = r.message
        site = "north" if "north" in r.rcpt_tos[0] else "south"
        results = load_results(out / site)
        # the subject is the headline; too long for 78 characters, it loses its parenthesised
        # interval first, then is cut at a word
        expected = f"{results.site_name}: {results.summary.headline}"
        if len(expected) > 78:
            expected = " ".join(re.sub(r"\s*\([^()]*\)", "", expected).split())
        assert msg["Subject"] == expected or (
            len(expected) > 78 and msg["Subject"].startswith(expected[:40])
        )
        assert "CI" not in msg["Subject"] or len(expected) <= 78
        html_part = msg.get_body(preferencelist=("html",))
        body = html_part.get_content()
        for finding in results.summary.findings:
            assert finding.replace("“", "&ldquo;")[:20] in body or finding[:20] in body
        cids = {
            p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"
        }
        referenced = set(re.findall(r'src="cid:([^"]+)"', body))
        assert referenced and referenced <= cids
        # the run kept the key charts as data; send drew the PNGs
        assert list((out / site / "charts").glob("*.json"))
        assert not list((out / site / "charts").glob("*.png"))
        # run --pdf printed report.pdf beside report.html; the email attaches it by default
        (attachment,) = msg.iter_attachments()
        assert attachment.get_filename() == "report.pdf"
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == (out / site / "report.pdf").read_bytes()
        text = subprocess.run(
            ["pdftotext", "-layout", str(out / site / "report.pdf"), "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        pages = text.split("\f")[:-1]
        assert results.site_name in pages[0] and AS_OF in pages[-1]
        assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
        assert results.summary.findings[0][:30] in " ".join(text.split())
        assert msg.get_body(preferencelist=("plain",)) is not None
    ledger = json.loads((out / "send-ledger.json").read_text())
    assert {e["outcome"] for e in ledger["entries"]} == {"sent"}


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_received_email_reads_at_600_and_390_px(sent, tmp_path: Path) -> None:
    """The body a stakeholder received from the real run, its cid: images the run's key-chart
    PNGs, rendered by headless Chromium at 600 and 390 px: no horizontal overflow, and the
    smallest chart text (the EMAIL_CHART_FONT_PT the charts are drawn with, times the shown
    width over the PNG's natural width, in the PNG's pixels per point) is at least 11 px."""
    from pipeline.report.results import EMAIL_CHART_FONT_PT, EMAIL_CHART_PX, EMAIL_CHART_WIDTH_IN

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed")
    _, received = sent
    png_px_per_pt = EMAIL_CHART_PX / (EMAIL_CHART_WIDTH_IN * 72)
    keep = os.environ.get("KAIZEN_SCREENSHOT_DIR")
    seen = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for k, r in enumerate(received):
                msg = r.message
                html = msg.get_body(preferencelist=("html",)).get_content()
                for i, part in enumerate(
                    p for p in msg.walk() if p.get_content_type() == "image/png"
                ):
                    img = tmp_path / f"m{k}-img{i}.png"
                    img.write_bytes(part.get_content())
                    html = html.replace(f"cid:{part['Content-ID'].strip('<>')}", img.as_uri())
                page_file = tmp_path / f"m{k}.html"
                page_file.write_text(html, "utf-8")
                for width in (600, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.goto(page_file.as_uri())
                    page.wait_for_load_state("load")
                    seen[k, width] = page.evaluate(
                        """() => ({
                            scroll: document.documentElement.scrollWidth,
                            inner: window.innerWidth,
                            imgs: [...document.images].map(i => ({
                                shown: i.getBoundingClientRect().width,
                                natural: i.naturalWidth, complete: i.complete})),
                        })"""
                    )
                    if keep:  # for a person to look at
                        page.screenshot(
                            path=str(Path(keep) / f"received-{k}-{width}.png"), full_page=True
                        )
                    page.close()
        finally:
            browser.close()
    for (k, width), m in seen.items():
        assert m["scroll"] <= m["inner"], (k, width, m)  # no horizontal overflow
        assert m["imgs"], (k, width)  # the key charts are there
        for img in m["imgs"]:
            assert img["complete"] and img["natural"] == EMAIL_CHART_PX, img
            text_px = img["shown"] / img["natural"] * EMAIL_CHART_FONT_PT * png_px_per_pt
            assert text_px >= 11, (k, width, img, text_px)
