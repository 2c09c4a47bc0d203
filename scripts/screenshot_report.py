#!/usr/bin/env python3
"""Render a deployverify HTML report in headless Chromium: check it, then screenshot it.

    python scripts/screenshot_report.py reports/report.html [--out-dir reports]

1. Loads the page with ``--dump-dom`` and Chromium's console logged to stderr, and checks that
   no script error ("Uncaught ...") was logged, that the verdict banner is in the DOM after
   the scripts ran, and that it was moved to the top (proof our script ran) and pytest-html
   filled its results table (proof its script ran).
2. Saves ``report-top.png`` (the top of the report: title, banner, completeness) and
   ``report-performance.png`` (``?dv-focus=performance``: the banner and the performance
   section only; headless screenshots do not honour ``#fragments`` reliably).

Exit status 0 when the page is fine, 1 when a check failed, 2 when Chromium is missing.
Chromium comes from the system packages (``scripts/ensure-system-deps.sh``). Every Chromium
call has a timeout; its profile lives in a temporary directory removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
)
TIMEOUT_S = 90.0
WINDOW = "1280,1000"


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None (``DEPLOYVERIFY_CHROMIUM`` overrides the search)."""
    override = os.environ.get("DEPLOYVERIFY_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(chromium: str, args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, *BASE_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class PageCheck:
    """What the browser saw."""

    dom: str
    console: list[str]
    script_errors: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_page(chromium: str, report: Path) -> PageCheck:
    """Load ``report`` with scripts on; collect console lines and problems."""
    with tempfile.TemporaryDirectory(prefix="dv-chromium-") as profile:
        proc = _run(
            chromium,
            ["--enable-logging=stderr", "--v=0", "--dump-dom", report.resolve().as_uri()],
            Path(profile),
        )
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    errors = [line for line in console if "Uncaught" in line]
    errors += [
        line for line in proc.stderr.splitlines() if "Uncaught" in line and line not in errors
    ]
    dom = proc.stdout
    problems = []
    if proc.returncode != 0:
        problems.append(f"chromium exited {proc.returncode}: {proc.stderr[-500:]}")
    if errors:
        problems.append(f"{len(errors)} script error(s): {errors[0]}")
    banner = dom.find('id="dv-banner"')
    if banner < 0:
        problems.append("the verdict banner (#dv-banner) is not in the rendered page")
    env = dom.find('id="environment-header"')
    if banner >= 0 and env >= 0 and banner > env:
        problems.append("the banner was not moved to the top: the report's script did not run")
    if 'class="results-table-row' not in dom and "results-table-row" not in dom:
        problems.append("pytest-html's results table is empty: its script did not run")
    if re.search(r'id="dv-banner"[^>]*style="[^"]*display:\s*none', dom):
        problems.append("the banner is hidden")
    return PageCheck(dom=dom, console=console, script_errors=errors, problems=problems)


def screenshot(chromium: str, url: str, out: Path, window: str = WINDOW) -> Path:
    """Save a PNG of ``url`` (viewport ``window``) to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    with tempfile.TemporaryDirectory(prefix="dv-chromium-") as profile:
        proc = _run(
            chromium, [f"--window-size={window}", f"--screenshot={tmp}", url], Path(profile)
        )
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"chromium could not screenshot {url}: {proc.stderr[-500:]}")
    os.replace(tmp, out)
    return out


def shoot_report(chromium: str, report: Path, out_dir: Path) -> dict[str, Path]:
    """The two screenshots: top of the report and its performance section."""
    uri = report.resolve().as_uri()
    return {
        "top": screenshot(chromium, uri, out_dir / "report-top.png"),
        # taller: a chart row per timing, and the table below the charts
        "performance": screenshot(
            chromium,
            uri + "?dv-focus=performance",
            out_dir / "report-performance.png",
            window="1280,1600",
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the HTML report (pytest --html=...)")
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="default: the report's directory"
    )
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(
            f"no such report: {args.report}; run pytest with --html={args.report} first",
            file=sys.stderr,
        )
        return 1
    chromium = find_chromium()
    if chromium is None:
        print(
            "chromium not found: run scripts/ensure-system-deps.sh (as root) to install it",
            file=sys.stderr,
        )
        return 2
    page = check_page(chromium, args.report)
    for problem in page.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    shots = shoot_report(chromium, args.report, args.out_dir or args.report.parent)
    for name, path in shots.items():
        print(f"{name}: {path}")
    return 0 if page.ok else 1


if __name__ == "__main__":
    sys.exit(main())
