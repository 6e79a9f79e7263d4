"""SIGINT / SIGTERM become a stop request that every wait honours; a later one changes nothing."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from shipline.release.stopping import ALREADY_STOPPING, Interrupted, StopSignal


def test_a_signal_turns_into_a_stop_request_that_interrupts_the_next_sleep():
    stop = StopSignal()
    with stop.catching():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
        with pytest.raises(Interrupted, match="SIGTERM"):
            stop.sleep(30)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_later_signal_is_acknowledged_and_does_not_cut_the_clean_ending_short(capfd):
    """GitHub's runner sends SIGTERM 7.5 s after SIGINT: the ending must go on through it."""
    stop = StopSignal()
    with stop.catching():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # raised KeyboardInterrupt here before
        ending_went_on = True
    assert ending_went_on
    assert stop.signal_name == "SIGINT"  # the first one names the interruption
    assert f"shipline: SIGTERM: {ALREADY_STOPPING}" in capfd.readouterr().err


def test_sleep_returns_when_nobody_asked_to_stop():
    stop = StopSignal()
    stop.sleep(0.01)
    stop.check()


def test_catching_outside_the_main_thread_changes_no_handler():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with StopSignal().catching() as stop:
            seen.append(stop)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen and signal.getsignal(signal.SIGINT) is before
