"""The verifier's alerts fire on the textfile a real verification run writes, and stay silent
on a passing run's: the textfile of each run (``--metrics-file``) becomes promtool input
series, and the alerts firing after the rules' evaluation are counted by name."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Imported by this process before the in-process pytester runs: otherwise the first run imports
# requests (and http.cookiejar), pytester's module snapshot drops part of that afterwards, and
# the next run mixes two CookieJar classes.
import requests  # noqa: F401
from monitoring_support import REPO, RULES, promtool

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def textfiles(pytester: pytest.Pytester, target_url: str) -> dict[str, str]:
    """{"pass": textfile, "fail": textfile}: a baseline recorded, the same timings compared
    (pass), then twice as slow (fail)."""
    pytester.makefile(
        ".toml",
        pyproject=textwrap.dedent(
            f"""
            [tool.deployverify]
            default_env = "stage"
            [tool.deployverify.envs.stage]
            base_url = "{target_url}"
            version_path = ""
            """
        ),
    )
    pytester.makepyfile(
        test_inner="""
        import os
        def test_perf(timings, target):
            factor = float(os.environ.get("SLOWDOWN", "1"))
            for s in [0.10, 0.11, 0.12, 0.10, 0.13, 0.11, 0.12, 0.10]:
                timings.record("stage.total", s * factor)
        """
    )
    args = ("-p", "no:cacheprovider", "--baseline", "bl", "--metrics-file", "dv.prom")
    assert pytester.runpytest(*args, "--record-baseline", "--record-runs", "1").ret == 0
    out = {}
    for name, slowdown, status in (("pass", "1", 0), ("fail", "2", 1)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SLOWDOWN", slowdown)
            assert pytester.runpytest(*args).ret == status
        out[name] = pytester.path.joinpath("dv.prom").read_text(encoding="utf-8")
    return out


def _samples(textfile: str) -> list[tuple[str, str, float]]:
    """(name, '{labels}', value) of every sample line."""
    out = []
    for line in textfile.splitlines():
        m = _LINE.match(line)
        if m and not line.startswith("#"):
            out.append((m.group(1), m.group(2) or "{}", float(m.group(3))))
    return out


def _firing(tmp_path: Path, textfile: str) -> dict[str, int]:
    """Verifier alert name -> number firing after 5 minutes of the textfile scraped as job node."""
    series = [
        {
            "series": name
            + labels[:-1]
            + (", " if labels != "{}" else "")
            + 'job="node", instance="ci:9100"}',
            "values": f"{value!r}x10",
        }
        for name, labels, value in _samples(textfile)
    ]
    probe = 'count by (alertname) (ALERTS{alertstate="firing", pipeline="deployverify"})'
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [{"expr": probe, "eval_time": "5m", "exp_samples": []}],
            }
        ],
    }
    path = tmp_path / "textfile_test.yml"
    path.write_text(json.dumps(test), encoding="utf-8")  # JSON is YAML
    result = subprocess.run(
        [promtool(), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    if result.returncode == 0:
        return {}
    # promtool reports what it got instead of the (empty) expected samples
    got = (result.stdout + result.stderr).split("got:", 1)[-1]
    found = dict(re.findall(r'alertname="(\w+)"\} (\S+?),?(?:\s|$)', got))
    assert found, result.stdout + result.stderr
    return {k: int(float(v)) for k, v in found.items()}


def test_a_failing_run_fires_the_verifier_alerts(tmp_path: Path, textfiles: dict[str, str]) -> None:
    samples = _samples(textfiles["fail"])
    ratios = {labels: v for name, labels, v in samples if name == "deployverify_timing_ratio"}
    limits = {
        labels: v for name, labels, v in samples if name == "deployverify_timing_allowed_ratio"
    }
    over = sum(1 for labels, ratio in ratios.items() if ratio > limits[labels])
    assert over >= 1, (ratios, limits)
    assert _firing(tmp_path, textfiles["fail"]) == {
        "DeployVerifyFailed": 1,
        "DeployVerifyTimingRatioAboveLimit": over,
    }


def test_a_passing_run_fires_none(tmp_path: Path, textfiles: dict[str, str]) -> None:
    assert (
        'verdict="pass"' in textfiles["pass"] and "deployverify_timing_ratio{" in textfiles["pass"]
    )
    assert _firing(tmp_path, textfiles["pass"]) == {}
