"""A real run's reports, emailed through a real SMTP server on loopback: the email carries the
numbers of results.json, its cid: images resolve, and the report is attached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AS_OF, write_mini_project
from tests.mail_fixtures import SmtpServer, smtp_env

pytestmark = pytest.mark.slow

EMAIL = """
email:
  from: "Kaizen Reports <kaizen@example.com>"
  error_recipients: [analytics@example.com]
"""


def test_run_send_delivers_each_site_report_from_results_json(tmp_path: Path) -> None:
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
    out = tmp_path / "p" / "out" / AS_OF
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "ops-north@example.com", "ops-south@example.com"
    ]  # fmt: skip
    for r in received:
        msg = r.message
        site = "north" if "north" in r.rcpt_tos[0] else "south"
        results = json.loads((out / site / "results.json").read_text())
        # the subject is the headline, shortened to 78 characters when the interval makes it long
        expected = f"{results['site_name']}: {results['summary']['headline']}"
        assert msg["Subject"] == expected or (
            len(expected) > 78 and msg["Subject"].startswith(expected[:40])
        )
        html_part = msg.get_body(preferencelist=("html",))
        body = html_part.get_content()
        for finding in results["summary"]["findings"]:
            assert finding.replace("“", "&ldquo;")[:20] in body or finding[:20] in body
        cids = {
            p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"
        }
        referenced = set(__import__("re").findall(r'src="cid:([^"]+)"', body))
        assert referenced and referenced <= cids
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
        assert results["site_name"] in pages[0] and AS_OF in pages[-1]
        assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
        assert results["summary"]["findings"][0][:30] in " ".join(text.split())
        assert msg.get_body(preferencelist=("plain",)) is not None
    ledger = json.loads((out / "send-ledger.json").read_text())
    assert {e["outcome"] for e in ledger["entries"]} == {"sent"}
