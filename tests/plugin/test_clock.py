"""``utc_timestamp`` writes every time deployverify records; "now" takes a shortcut (the
second's text is kept), which must spell the time as ``datetime.isoformat`` does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pytest_deployverify import clock
from pytest_deployverify.clock import utc_timestamp


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "now",
    [
        1_700_000_000.0,  # a whole second: no fraction, as isoformat writes it
        1_700_000_000.5,
        1_700_000_000.000001,
        1_700_000_000.999999,
        1_700_000_000.9999996,  # rounds up into the next second
        1_700_000_059.25,
        1_700_000_060.25,  # the next minute: the kept second is not reused
        1_700_000_000.75,  # and back
    ],
)
def test_now_is_spelled_as_isoformat(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    monkeypatch.setattr(clock.time, "time", lambda: now)
    assert utc_timestamp() == _iso(datetime.fromtimestamp(now, timezone.utc))


def test_the_kept_second_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([100.5, 100.75, 161.5, 100.25])
    monkeypatch.setattr(clock.time, "time", lambda: next(times))
    assert [utc_timestamp() for _ in range(4)] == [
        "1970-01-01T00:01:40.500000Z",
        "1970-01-01T00:01:40.750000Z",
        "1970-01-01T00:02:41.500000Z",
        "1970-01-01T00:01:40.250000Z",
    ]


def test_a_given_moment_is_converted_to_utc() -> None:
    moment = datetime(2026, 1, 31, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert utc_timestamp(moment) == "2026-01-31T12:00:00.000005Z"
    assert utc_timestamp(datetime(2001, 9, 9, 1, 46, 40, tzinfo=timezone.utc)) == (
        "2001-09-09T01:46:40Z"
    )


def test_now_is_now() -> None:
    before = datetime.now(timezone.utc)
    stamp = datetime.fromisoformat(utc_timestamp().replace("Z", "+00:00"))
    after = datetime.now(timezone.utc)
    assert before - timedelta(microseconds=1) <= stamp <= after


def test_many_times_are_spelled_as_isoformat(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rng = random.Random(20)
    for _ in range(3000):
        now = rng.choice([rng.uniform(0, 4e9), rng.randrange(4_000_000_000) + rng.random()])
        monkeypatch.setattr(clock.time, "time", lambda now=now: now)
        assert utc_timestamp() == _iso(datetime.fromtimestamp(now, timezone.utc)), now
