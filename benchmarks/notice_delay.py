"""How soon upload_document returns after a job reaches its terminal status on the server.

    .venv/bin/python benchmarks/notice_delay.py [--runs 20] [--pdf fixtures/small.pdf]

Starts one docservice deployment (SQLite, default stand-in latency) with the plugin's own
launcher, then uploads the same real PDF again and again (each document deleted before the
next upload) following it with three polling strategies, interleaved so machine load hits all
alike:

* adaptive: the plugin's default (a fifth of the current status's age, 20 ms .. 200 ms);
* fixed 100 ms and fixed 500 ms: the usual "poll every N ms" loop, same code otherwise.

The delay is ``time upload_document returned - server timestamp of the terminal event``
(same machine, same clock). It includes fetching the event trail and the document summary
after the job ended, which upload_document does before it returns. Polls per run show the
cost on the service's side.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="uploads per strategy")
    parser.add_argument("--pdf", default=str(ROOT / "fixtures" / "small.pdf"))
    args = parser.parse_args()

    from pytest_deployverify import launch
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Auth, LaunchSpec, Target
    from pytest_deployverify.pipeline import PipelineFollower
    from pytest_deployverify.pipeline_run import parse_ts
    from pytest_deployverify.profile import PipelineProfile

    spec = LaunchSpec(
        command="{python} -m docservice up --ready-file {ready_file}",
        secrets=(
            ("DOCSERVICE_API_TOKENS", "api_token"),
            ("DOCSERVICE_WEBHOOK_SECRET", "webhook_secret"),
        ),
        cwd=str(ROOT),
    )
    deployment = launch.start(spec, env_name="benchmark", timeout=90)
    try:
        target = Target(
            name="benchmark", base_url=deployment.api_url, auth=Auth.parse("bearer:api_token")
        ).with_deployment(deployment.data, deployment.secrets)
        strategies = {
            "adaptive (default)": PipelineProfile(),
            "fixed 100 ms": dataclasses.replace(PipelineProfile(), poll_initial=0.1, poll_max=0.1),
            "fixed 500 ms": dataclasses.replace(PipelineProfile(), poll_initial=0.5, poll_max=0.5),
        }
        delays: dict[str, list[float]] = {name: [] for name in strategies}
        polls: dict[str, list[int]] = {name: [] for name in strategies}
        job_seconds: list[float] = []
        for _ in range(args.runs):
            for name, profile in strategies.items():
                follower = PipelineFollower(
                    lambda: ApiClient(target),
                    profile=profile,
                    deadline=60,
                    stall_timeout=20,
                    secrets=target.secret_values(),
                )
                run = follower.upload(args.pdf)
                returned = time.time()
                follower.cleanup()  # the next upload of the same file is new, not a duplicate
                if run.outcome != "complete":
                    raise SystemExit(f"{name}: {run.describe()}")
                done_at = parse_ts(run.statuses[-1].at)
                assert done_at is not None and run.statuses[-1].source == "events"
                delays[name].append(returned - done_at.timestamp())
                polls[name].append(run.polls)
                job_seconds.append(run.total_seconds or 0.0)
        print(
            f"docservice {deployment.data.get('database')}, {args.runs} uploads of "
            f"{Path(args.pdf).name} per strategy; server-side job time median "
            f"{statistics.median(job_seconds) * 1000:.0f} ms"
        )
        print(
            f"{'strategy':<20} {'median delay':>13} {'p90 delay':>10} {'max':>8} {'polls/run':>10}"
        )
        for name in strategies:
            d = sorted(delays[name])
            p90 = d[min(len(d) - 1, round(0.9 * (len(d) - 1)))]
            print(
                f"{name:<20} {statistics.median(d) * 1000:>10.1f} ms {p90 * 1000:>7.1f} ms "
                f"{d[-1] * 1000:>5.1f} ms {statistics.median(polls[name]):>10.1f}"
            )
    finally:
        deployment.stop()


if __name__ == "__main__":
    main()
