"""One run id per run (issue 12): events.jsonl, verdict.json, summary.md, the HTML report,
every alert and the terminal summary carry the same id, and xdist workers share the
controller's, so a pipeline log, an alert and a report can be matched."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from verdict_support import load_verdict, webhook_receiver

# each test writes the run id its own process sees (an xdist worker's, with -n 2)
INNER = """
import pathlib, pytest
from pytest_deployverify.session import current

@pytest.mark.parametrize("n", range(4))
def test_sees_run_id(request, n):
    out = pathlib.Path(request.config.rootpath) / f"seen-{n}.txt"
    out.write_text(current(request.config).run_id)

@pytest.mark.critical
def test_fails():
    assert False, "boom"
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_every_output_names_the_same_run(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makepyfile(test_inner=textwrap.dedent(INNER))
    with webhook_receiver() as hook:
        result = pytester.runpytest(
            "-p",
            "no:cacheprovider",
            "--report-dir=r",
            "--verdict-file=r/verdict.json",
            "--html=r/report.html",
            "--alert-webhook",
            hook.url,
            *xdist,
        )
        alerts = list(hook.received)
    assert result.ret == 1
    verdict = load_verdict(pytester.path / "r" / "verdict.json")  # schema-validated
    run_id = verdict["run_id"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-\d+-[0-9a-f]{6}", run_id)

    events = [
        json.loads(x) for x in (pytester.path / "r" / "events.jsonl").read_text().split("\n") if x
    ]
    assert {e["run"] for e in events} == {run_id}
    assert f"Run ID: `{run_id}`" in (pytester.path / "r" / "summary.md").read_text()
    html = (pytester.path / "r" / "report.html").read_text()
    assert f'<code class="dv-run-id">{run_id}</code>' in html
    result.stdout.fnmatch_lines([f"  run id: {run_id}"])
    assert [a["deployverify"]["kind"] for a in alerts] == ["first_failure", "summary"]
    for alert in alerts:
        assert alert["deployverify"]["run_id"] == run_id
        assert f"run ID: {run_id}" in alert["text"]
    # every process of the run (the workers too) knows the controller's id
    seen = {(pytester.path / f"seen-{n}.txt").read_text() for n in range(4)}
    assert seen == {run_id}


def test_each_run_has_its_own_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_ok(): pass\n")
    ids = []
    for _ in range(2):
        result = pytester.runpytest("-p", "no:cacheprovider", "--verdict-file=v.json")
        assert result.ret == 0
        ids.append(load_verdict(pytester.path / "v.json")["run_id"])
    assert ids[0] != ids[1]
