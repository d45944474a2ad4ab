"""A process-wide setting is made by the first stream in and undone by the last one out."""

from __future__ import annotations

import pytest

from runner.engine.while_streams import WhileStreams


def test_overlapping_streams_start_once_stop_once_and_each_on_every_entry() -> None:
    calls: list[str] = []
    held = WhileStreams(lambda: calls.append("start"), lambda: calls.append("stop"),
                        each=lambda: calls.append("each"))
    with held.held():
        with held.held():
            assert calls == ["each", "start", "each"]
        assert calls[-1] == "each"  # the inner stream ended: the outer still holds it
    assert calls == ["each", "start", "each", "stop"]
    with held.held():
        pass
    assert calls[-3:] == ["each", "start", "stop"]


def test_a_failed_stream_still_lets_go() -> None:
    calls: list[str] = []
    held = WhileStreams(lambda: calls.append("start"), lambda: calls.append("stop"))
    with pytest.raises(ValueError), held.held():
        raise ValueError("the stream failed")
    assert calls == ["start", "stop"]
