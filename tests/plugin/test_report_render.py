"""Unit tests of each report renderer against sample verdicts (docs/architecture.md contract).

The end-to-end behaviour through pytest is in test_report_plugin.py; these pin what each
section says for a passing and a failing verdict, and that no secret survives rendering.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_samples import CID_FAIL, SECRET, failing_evidence, failing_verdict, passing_verdict

from pytest_deployverify.atomic import write_atomic
from pytest_deployverify.report import html, html_tests, metrics, model, summary, svg
from pytest_deployverify.report.context import build_context
from pytest_deployverify.report.events import EventStream, event_for_test, read_events

LINKS = model.CorrelationLinks(
    (
        ("logs", "https://logs.example.com/search?q={correlation_id}"),
        ("traces", "https://trace.example.com/t/{correlation_id}"),
    )
)


@pytest.fixture
def fail_ctx(tmp_path: Path):
    """A report context for the failing sample, with a verdict file on disk to hash."""
    vf = tmp_path / "verdict.json"
    vf.write_text(json.dumps(failing_verdict()))
    return build_context(
        failing_verdict(), failing_evidence(), secrets=[SECRET], links=LINKS, verdict_file=vf
    )


@pytest.fixture
def pass_ctx():
    """A report context for the passing sample (no verdict file on disk)."""
    return build_context(passing_verdict(), {}, secrets=[SECRET], links=LINKS)


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [v for k, v in attrs if k == "id" and v]


def test_banner_pass_says_promote_and_names_both_sides(pass_ctx):
    banner = html.render_banner(pass_ctx)
    assert 'data-verdict="pass"' in banner and "PASS" in banner
    assert "Promote this deployment" in banner
    assert "All 3 tests and 9 checks passed" in banner
    for text in (
        "staging",
        "docs.staging.example.com",
        "2.4.1",
        "baselines",
        "local",
        "2026-11-27T10:00:00",
    ):
        assert text in banner


def test_banner_fail_and_missing_verdict(fail_ctx):
    assert "Roll back this deployment" in html.render_banner(fail_ctx)
    assert "dv-verdict-fail" in html.render_banner(fail_ctx)
    empty = html.render_banner(build_context(None, {}))
    assert "NO VERDICT" in empty and "do not promote" in empty


def test_components_show_state_evidence_and_not_checked(pass_ctx, fail_ctx):
    rows = {r.key: r for r in model.component_rows(pass_ctx.verdict)}
    assert rows["worker"].state == "working"
    assert rows["monitoring"].state == "not checked"  # nothing covered it
    section = html.render_components(fail_ctx)
    worker = re.search(r'data-component="worker">(.*?)</tr>', section, re.S).group(1)
    assert "NOT WORKING" in worker and "no heartbeat for 412 s" in worker and "412.0" in worker
    monitoring = re.search(r'data-component="monitoring">(.*?)</tr>', section, re.S).group(1)
    assert "not checked" in monitoring and "No test in this run checked" in monitoring


def test_component_convention_ignores_other_checks():
    assert (
        model.component_of({"kind": "component", "name": "component:worker:heartbeat"}) == "worker"
    )
    assert model.component_of({"kind": "baseline", "name": "document"}) is None
    assert model.component_of({"kind": "component", "name": "worker"}) is None


def test_behaviour_mismatch_side_by_side_with_rule(fail_ctx, pass_ctx):
    section = html.render_behaviour(fail_ctx)
    assert "Expected (baseline)" in section and "Observed (this deployment)" in section
    row = re.search(r"<tr><td>.*?\$\.chunk_count.*?</tr>", section, re.S).group(0)
    assert "<pre>4</pre>" in row and "<pre>0</pre>" in row and "equal" in row
    assert "text-embedding-3-small" in section and "mock-embed" in section
    assert (
        "stored but not checked by this run" in section and "test_webhook.json::callback" in section
    )
    passing = html.render_behaviour(pass_ctx)
    assert 'data-outcome="pass"' in passing and "Expected (baseline)" not in passing


def test_performance_table_and_one_chart_per_group(fail_ctx):
    section = html.render_performance(fail_ctx)
    assert section.count("<svg") == 2  # own + external
    row = re.search(r'data-timing="upload.accept">(.*?)</tr>', section, re.S).group(1)
    assert "1.90x" in row and "FAILED" in row and "\u2264 1.20x" in row and "200 ms" in row
    assert "inconclusive" in section


def test_observed_timings_are_listed_apart_and_only_when_present(tmp_path: Path):
    """Intermediate statuses' client-observed first sightings get their own small table, not
    a row of the judged table; a verdict without them shows no such section."""
    verdict = passing_verdict()
    verdict["observed_timings"] = [
        {
            "name": "convert.client.started",
            "n": 3,
            "median": 0.05,
            "samples": [0.04, 0.05, 0.07],
            "rule": "recorded, not judged (client-observed: ...)",
        }
    ]
    ctx = build_context(verdict, {}, secrets=[SECRET], links=LINKS)
    section = html.render_performance(ctx)
    assert "Observed, not judged" in section and "recorded, not judged" in section
    row = re.search(r'data-timing="convert.client.started"><td>(.*?)</tr>', section, re.S)
    assert row and "50 ms" in row.group(1) and "n=3" in row.group(1)
    assert "Observed, not judged" in summary.render_summary(ctx)
    plain = build_context(passing_verdict(), {}, secrets=[SECRET], links=LINKS)
    assert "Observed, not judged" not in html.render_performance(plain)
    assert "Observed, not judged" not in summary.render_summary(plain)


def test_svg_is_wellformed_with_axis_medians_and_every_sample():
    timing = failing_verdict()["timings"][0]
    chart = svg.timing_chart("own", [timing])
    root = ET.fromstring(chart)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}circle[@class='dv-sample-baseline']")) == 5
    assert len(root.findall(f".//{ns}rect[@class='dv-sample-target']")) == 5
    assert len(root.findall(f".//{ns}line[@class='dv-median']")) == 2
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "seconds per operation" in texts and "base 110 ms / target 200 ms" in texts
    assert svg.timing_chart("own", []) == ""
    empty = ET.fromstring(
        svg.timing_chart("own", [{"name": "x", "baseline": {}, "target": {"samples": []}}])
    )
    assert "no baseline samples" in "".join(empty.itertext())


def test_nice_ticks_cover_the_range():
    assert svg.nice_ticks(0.23) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert svg.nice_ticks(7)[-1] >= 7
    assert svg.nice_ticks(0) == [0.0, 1.0]


def test_tests_section_links_request_log_and_timeline(fail_ctx):
    section = html_tests.render_tests(fail_ctx)
    assert f'href="https://logs.example.com/search?q={CID_FAIL}"' in section
    assert f'href="https://trace.example.com/t/{CID_FAIL}"' in section
    assert "/api/v2/upload" in section and "42 ms" in section and "503" in section
    assert "uploaded" in section and "+1.500 s" in section and "embedding_queued" in section
    assert "Re-run just this test" in section and "--target-env=staging" in section
    assert "client-observed" not in section  # server timestamps: no client times shown


def test_a_timeline_without_server_times_shows_when_the_client_saw_each_status():
    run = {
        "final_status": "success",
        "statuses": [
            {"status": "pending", "at": None, "source": "poll", "seen_s": 0.012},
            {"status": "started", "at": None, "source": "poll", "seen_s": 0.05},
            {"status": "success", "at": None, "source": "poll", "seen_s": 0.131},
        ],
    }
    text = html_tests._timeline(run)
    assert "seen +0.012 s" in text and "seen +0.050 s" in text and "seen +0.131 s" in text
    assert "client-observed" in text
    assert "dv-bad" not in text  # the run completed
    # a run that ended in the service's failure status (not docservice's failed_*) is marked
    stalled = {**run, "outcome": "stalled", "final_status": "started"}
    stalled["statuses"] = run["statuses"][:2]
    assert '<li class="dv-bad"><span class="dv-status">started' in html_tests._timeline(stalled)
    failure = {**run, "outcome": "failed", "final_status": "FAILURE"}
    failure["statuses"] = [*run["statuses"][:2], {"status": "FAILURE", "seen_s": 0.2}]
    assert '<li class="dv-bad"><span class="dv-status">FAILURE' in html_tests._timeline(failure)


def test_signoff_totals_checksum_and_fields(fail_ctx):
    section = html.render_signoff(fail_ctx)
    assert re.search(r"<code class=\"dv-sha\">[0-9a-f]{64}</code>", section)
    assert fail_ctx.verdict_sha256 in section
    for field in ("Approver", "Role", "Date", "Decision", "Promote", "Roll back"):
        assert field in section
    assert "<th>checks failed</th><td>3</td>" in section


def test_full_page_has_unique_ids_and_no_secret(fail_ctx):
    page = html.render_report(fail_ctx)
    assert SECRET not in page
    assert "[REDACTED]" in page
    parser = _Ids()
    parser.feed(page)
    assert len(parser.ids) == len(set(parser.ids))
    assert {"dv-report", "dv-banner", "performance", "dv-signoff"} <= set(parser.ids)


def test_unknown_secret_values_in_data_are_still_redacted_by_pattern():
    v = passing_verdict()
    v["reason"] = "probe sent Authorization: Bearer abcdefghij123"
    page = html.render_report(build_context(v, {}))
    assert "abcdefghij123" not in page


def test_summary_markdown_sections(fail_ctx, pass_ctx):
    md = summary.render_summary(fail_ctx)
    assert md.startswith("# Deployment verification summary")
    assert "**Verdict: FAIL**" in md and "Roll back this deployment" in md
    for heading in (
        "## Deployment and baseline",
        "## Deployment completeness",
        "## Behaviour checks",
        "## Performance",
        "## Failures",
        "## Clean-up",
    ):
        assert heading in md
    assert "| Background worker | NOT WORKING |" in md
    assert "| Monitoring | not checked |" in md
    assert "$.chunk_count" in md and "`4`" in md and "`0`" in md
    assert "| upload.accept | own |" in md and "1.90x" in md
    assert f"`{CID_FAIL}` ([logs](https://logs.example.com/search?q={CID_FAIL})" in md
    assert "| doc-2 | NO |" in md
    assert SECRET not in md
    ok = summary.render_summary(pass_ctx)
    assert "**Verdict: PASS**" in ok and "## Failures\n\nNone." in ok


def _with_passes(verdict, kinds):
    """``verdict`` plus passed behaviour checks: ``kinds`` maps a kind to how many."""
    for kind, n in kinds.items():
        for i in range(n):
            verdict["checks"].append(
                {
                    "id": f"tests/smoke/test_x.py::test_{kind}_{i}::{kind}-{i}",
                    "nodeid": f"tests/smoke/test_x.py::test_{kind}_{i}",
                    "name": f"{kind}-check-{i}",
                    "kind": kind,
                    "outcome": "pass",
                    "rule": "equal",
                    "correlation_ids": [],
                }
            )
    return verdict


def test_failures_first_passes_counted_per_kind(tmp_path):
    v = _with_passes(failing_verdict(), {"schema": 3, "assertion": 2})
    ctx = build_context(v, failing_evidence(), secrets=[SECRET])
    md = summary.render_summary(ctx)
    # failures right after the verdict, before any table of what went right
    assert md.index("## Failures") < md.index("## Deployment and baseline")
    assert md.index("## Failures") < md.index("## Behaviour checks")
    behaviour = md[md.index("## Behaviour checks") : md.index("## Performance")]
    # passes are counted per kind, not listed; failures are listed one by one
    assert "Passed: 3 schema, 2 assertion, 1 baseline" in behaviour
    assert "schema-check-0" not in behaviour and "upload_response" not in behaviour
    assert behaviour.count("| FAILED | document |") == 2

    section = html.render_behaviour(ctx)
    folded = re.findall(
        r'<details class="dv-passed" data-kind="([^"]+)"><summary>.*?(\d+) ', section
    )
    assert folded == [("schema", "3"), ("assertion", "2"), ("baseline", "1")]
    # every failing check comes before the first folded group, and none is folded away
    first_fold = section.index("<details")
    assert section.index('data-outcome="fail"') < first_fold
    assert 'data-outcome="fail"' not in section[first_fold:]
    assert section.count('data-check="schema-check-') == 3  # details kept, folded


def test_all_passed_summary_has_no_check_rows(pass_ctx):
    md = summary.render_summary(pass_ctx)
    assert "Passed: 1 baseline" in md and "| passed | upload_response |" not in md
    assert "## Failures\n\nNone." in md


def test_metrics_textfile(fail_ctx, tmp_path):
    text = metrics.render_metrics(fail_ctx)
    assert 'deployverify_verdict{verdict="fail",target="staging"} 1' in text
    assert 'deployverify_verdict{verdict="pass",target="staging"} 0' in text
    assert 'deployverify_recommendation{recommendation="roll_back",target="staging"} 1' in text
    assert 'deployverify_tests{outcome="failed",target="staging"} 2' in text
    assert (
        'deployverify_timing_ratio{timing="upload.accept",group="own",target="staging"} 1.9' in text
    )
    assert (
        'deployverify_timing_outcome{timing="upload.accept",group="own",target="staging"} 2' in text
    )
    # the limit beside the ratio: the DeployVerifyTimingRatioAboveLimit alert compares the two
    assert (
        'deployverify_timing_allowed_ratio{timing="upload.accept",group="own",target="staging"} 1.2'
        in text
    )
    assert "# TYPE deployverify_timing_ratio gauge" in text
    # every sample line parses as name{labels} value
    for line in text.splitlines():
        if not line.startswith("#"):
            assert re.fullmatch(r"[a-z_]+\{[^}]*\} -?[0-9.e+-]+", line), line
    path = tmp_path / "sub" / "deployverify.prom"
    write_atomic(path, text)
    assert path.read_text() == text
    assert [p.name for p in path.parent.iterdir()] == ["deployverify.prom"]  # no temp left


def test_metrics_label_escaping():
    v = passing_verdict()
    v["target"]["name"] = 'we"ird\\name'
    text = metrics.render_metrics(build_context(v, {}))
    assert 'target="we\\"ird\\\\name"' in text


def test_event_stream_lines_are_complete_and_redacted(tmp_path):
    stream = EventStream(tmp_path / "events.jsonl", secrets=lambda: [SECRET])
    stream.open()
    stream.emit("session_start", note=f"token {SECRET}")
    ev = failing_evidence()["tests/smoke/test_health.py::test_health"]
    stream.emit("test", **event_for_test(ev, []))  # emit redacts with the stream's secrets
    # readable while the stream is still open
    events = read_events(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == ["session_start", "test"]
    assert events[1]["critical"] is True and events[1]["correlation_ids"] == [CID_FAIL]
    stream.update_verdict("pass", "no failure")
    stream.update_verdict("pass", "still none")  # no change, no event
    stream.update_verdict("fail", "test_health failed")
    stream.close()
    events = read_events(tmp_path / "events.jsonl")
    changes = [(e["from"], e["to"]) for e in events if e["event"] == "verdict_change"]
    assert changes == [(None, "pass"), ("pass", "fail")]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert SECRET not in (tmp_path / "events.jsonl").read_text()


@pytest.mark.parametrize(
    ("rootdir_from_invocation", "shown"),
    [
        ("", "tests/smoke/test_health.py::test_health"),  # started in the rootdir
        ("..", "../tests/smoke/test_health.py::test_health"),  # started in a subdirectory
        ("proj", "proj/tests/smoke/test_health.py::test_health"),  # started above it
    ],
)
def test_rerun_hint_names_the_test_as_typed_where_pytest_started(rootdir_from_invocation, shown):
    ctx = build_context(
        failing_verdict(),
        failing_evidence(),
        secrets=[SECRET],
        rootdir_from_invocation=rootdir_from_invocation,
    )
    section = html_tests.render_tests(ctx)
    assert f"Re-run just this test: <code>pytest &#x27;{shown}&#x27;" in section
