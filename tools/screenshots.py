"""PNG screenshots of a run's portfolio page and every site report, taken with headless Chromium.

Usage: ``python -m tools.screenshots REPORTS_DIR OUT_DIR`` where ``REPORTS_DIR`` is one run's folder
(``reports/<as_of>`` or ``reports/latest``). Each page is shot at a desktop width (1280 px, as the browser tests) and a phone
width (390 px), full page. Playwright drives Chromium when it is installed; otherwise the plain
``chromium --headless --screenshot`` command line takes viewport-sized shots.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

WIDTHS = {"desktop": 1280, "phone": 390}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def find_chromium() -> str | None:
    """Debian's ``/usr/bin/chromium`` (or whatever ``chromium`` is on the PATH)."""
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def list_pages(reports_dir: Path) -> list[tuple[str, Path]]:
    """``(name, html file)`` for the portfolio page and each site's report, portfolio first."""
    pages = []
    index = reports_dir / "index.html"
    if index.is_file():
        pages.append(("portfolio", index))
    for report in sorted(reports_dir.glob("*/report.html")):
        pages.append((report.parent.name, report))
    return pages


def take_screenshots(
    reports_dir: Path, out_dir: Path, *, chromium: str | None = None
) -> list[Path]:
    """Shoot every page at each width in :data:`WIDTHS`; returns the PNG files written."""
    reports_dir = reports_dir.resolve()
    pages = list_pages(reports_dir)
    if not pages:
        raise FileNotFoundError(f"no index.html or */report.html under {reports_dir}")
    browser = chromium or find_chromium()
    if browser is None:
        raise FileNotFoundError("Chromium not found: install Debian's chromium package")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _with_cli(browser, pages, out_dir)
    written = []
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
        try:
            for label, width in WIDTHS.items():
                page = chrome.new_page(viewport={"width": width, "height": 900})
                for name, html_file in pages:
                    page.goto(html_file.as_uri())
                    target = out_dir / f"{name}-{label}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                page.close()
        finally:
            chrome.close()
    return written


def _with_cli(browser: str, pages: list[tuple[str, Path]], out_dir: Path) -> list[Path]:
    written = []
    for label, width in WIDTHS.items():
        for name, html_file in pages:
            target = out_dir / f"{name}-{label}.png"
            subprocess.run(
                [
                    browser,
                    "--headless",
                    *CHROMIUM_ARGS,
                    "--hide-scrollbars",
                    f"--screenshot={target}",
                    f"--window-size={width},2400",
                    html_file.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots",
        description="PNG screenshots of the portfolio page and every site report.",
        epilog="example: python -m tools.screenshots reports/latest screenshots",
    )
    parser.add_argument("reports_dir", type=Path, help="one run's folder, e.g. reports/latest")
    parser.add_argument("out_dir", type=Path, help="folder for the PNG files")
    args = parser.parse_args(argv)
    try:
        written = take_screenshots(args.reports_dir, args.out_dir)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
