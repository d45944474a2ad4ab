"""A stream shortens the switch interval for its length, and the last one out restores it."""

from __future__ import annotations

import sys
import threading

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


def test_concurrent_streams_restore_it_when_the_last_one_ends() -> None:
    sys.setswitchinterval(0.005)
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with reader_first():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with reader_first():
        pass
    # This thread's stream ended first: the other one's still needs the short interval.
    assert sys.getswitchinterval() == pytest.approx(STREAM_SWITCH_INTERVAL)
    release.set()
    thread.join(10)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_interval_set_by_the_user_is_kept() -> None:
    sys.setswitchinterval(0.0001)
    with reader_first():
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
    assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
