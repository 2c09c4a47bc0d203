"""What keeping a replay record costs per request, next to the Exchange the client already makes.

    .venv/bin/python benchmarks/replay_records.py [--number 20000] [--rounds 7]

Every request the ``ApiClient`` sends keeps a ``replay.SentRequest`` (references to the
method, URL, headers and body arguments; no string work) in the test's evidence, so a failed
one can be replayed at teardown. The named alternative in the same run is the ``Exchange``
record every request has made all along. Each round times both (best of 3 repeats of
``--number`` iterations), alternating which goes first; the figures are the medians over the
rounds, in microseconds per request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETUP = (
    "from pytest_deployverify.replay import SentRequest\n"
    "from pytest_deployverify.evidence import Exchange\n"
    "headers = {'X-Correlation-ID': 'c', 'traceparent': 't', 'Authorization': 'Bearer x'}\n"
    "sent = {}\n"
)
RECORD = (
    "s = SentRequest('GET', 'http://h/api/v2/jobs/1', headers, None, None, None, {})\n"
    "sent[id(s)] = s"
)
EXCHANGE = (
    "Exchange(method='GET', path='/api/v2/jobs/1', status=200, latency_ms=1.0, "
    "correlation_id='c', request_bytes=0, response_bytes=2, started_at='t', attempt=1)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    record: list[float] = []
    exchange: list[float] = []
    for i in range(args.rounds):
        order = [(RECORD, record), (EXCHANGE, exchange)]
        for stmt, out in order if i % 2 == 0 else reversed(order):
            best = min(timeit.repeat(stmt, SETUP, number=args.number, repeat=3))
            out.append(best / args.number * 1e6)
    r, x = statistics.median(record), statistics.median(exchange)
    print(f"replay record (SentRequest + dict insert): median {r:.2f} us/request")
    print(f"Exchange record (made per request before) : median {x:.2f} us/request")
    print(f"replay record / Exchange                  : {r / x:.2f}x")


if __name__ == "__main__":
    main()
