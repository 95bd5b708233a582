import os
import signal
import threading

from tokenshuffle.signals import Interrupted, StopSignals


def test_signals_are_held_until_asked_and_the_old_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal does not replace the first
        assert stop.requested and stop.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    assert Interrupted("x", signum=signal.SIGINT).exit_code == 130
    assert Interrupted("x", signum=signal.SIGTERM).exit_code == 143


def test_outside_the_main_thread_it_installs_nothing():
    seen = []

    def worker():
        with StopSignals() as stop:
            seen.append((stop.requested, signal.getsignal(signal.SIGINT)))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [(False, signal.getsignal(signal.SIGINT))]
