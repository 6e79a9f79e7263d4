"""SIGINT / SIGTERM become a stop request that every wait honours; a second one stops at once."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from shipline.release.stopping import Interrupted, StopSignal


def test_a_signal_turns_into_a_stop_request_that_interrupts_the_next_sleep():
    stop = StopSignal()
    with stop.catching():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
        with pytest.raises(Interrupted, match="SIGTERM"):
            stop.sleep(30)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_signal_raises_keyboard_interrupt():
    stop = StopSignal()
    with stop.catching(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    assert stop.signal_name == "SIGINT"


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
