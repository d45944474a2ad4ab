"""A stream shortens the switch interval for its length and restores it (the last of
overlapping streams restores it: tests/unit/test_while_streams.py)."""

from __future__ import annotations

import sys

import pytest

from runner.engine.switching import STREAM_SWITCH_INTERVAL, reader_first


@pytest.fixture(autouse=True)
def _interval() -> object:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_a_stream_sets_the_short_interval_and_puts_the_old_one_back() -> None:
    sys.setswitchinterval(0.005)
    with reader_first():
        assert sys.getswitchinterval() == pytest.approx(STREAM_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_an_error_in_the_stream_still_restores_it() -> None:
    sys.setswitchinterval(0.004)
    with pytest.raises(RuntimeError), reader_first():
        raise RuntimeError("the stream failed")
    assert sys.getswitchinterval() == pytest.approx(0.004)


def test_a_shorter_interval_set_by_the_user_is_kept() -> None:
    sys.setswitchinterval(0.0001)
    with reader_first():
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
    assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
