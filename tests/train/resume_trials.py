"""Child-process side of the kill, signal and fault-injection tests (test_train_resume_kill.py).

Children are forked from a multiprocessing forkserver that preloads this module (torch and the
trainer imported once), so a trial costs a fork and a tiny run, not a fresh interpreter. A child
runs ``tokenshuffle train`` through the command line and can be made to hurt itself at the k-th
file-system operation (rename, fsync, mkdir, unlink, rmdir, safetensors write): SIGKILL there, or
a signal to itself, or SIGTERM once a given step has been logged.
"""

from __future__ import annotations

import functools
import os
import signal
import sys

import torch
import torch._dynamo  # noqa: F401  (the first optimiser imports it: 3 s a child would pay each time)

import tokenshuffle.serialization as serialization
import tokenshuffle.train.checkpoint as checkpoint
from tokenshuffle.cli import main
from tokenshuffle.train.monitor import MetricsLog
from tokenshuffle.train.optim import adamw  # noqa: F401

SMOKE = ["--config", "smoke", "--no-progress"]
_OS_OPS = ("replace", "rename", "fsync", "mkdir", "unlink", "rmdir")


class _Counter:
    def __init__(self, at: int, action) -> None:
        self.n, self.at, self.action = 0, at, action

    def tick(self, path=None) -> None:
        self.n += 1
        if self.n == self.at:
            self.action(path)


def _hook_file_ops(counter: _Counter) -> None:
    for name in _OS_OPS:
        real = getattr(os, name)

        @functools.wraps(real)
        def wrapped(*args, _real=real, _name=name, **kwargs):
            counter.tick()
            if _name == "fsync":  # SIGKILL keeps the page cache: flushing only costs time (a power cut
                return None  # is what fsync is for, and no test can cut the power)
            return _real(*args, **kwargs)

        setattr(os, name, wrapped)
    real_save = checkpoint.save_file

    def save_file(tensors, filename, *args, **kwargs):  # a kill here leaves the file half written
        real_save(tensors, filename, *args, **kwargs)
        counter.tick(filename)

    checkpoint.save_file = serialization.save_file = save_file


def _sigkill(path) -> None:
    if path is not None:
        os.truncate(path, os.path.getsize(path) // 2)
    os.kill(os.getpid(), signal.SIGKILL)


def run(out: str, sets: list[str], *, resume: bool = False, kill_at: int = 0, signal_at: int = 0,
        signum: int = signal.SIGTERM, signal_after_step: int = 0, count_file: str = "", stderr: str = "") -> None:
    """Train (exit code = the CLI's); optionally SIGKILL or signal itself at the k-th file operation,
    or signal itself once ``signal_after_step`` is logged; ``count_file`` gets the number of operations,
    ``stderr`` what the child prints there."""
    torch.set_num_threads(1)
    if stderr:
        fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 2)
        os.close(fd)
    counter = _Counter(0, None)
    if kill_at:
        counter = _Counter(kill_at, _sigkill)
    elif signal_at:
        counter = _Counter(signal_at, lambda path: os.kill(os.getpid(), signum))
    _hook_file_ops(counter)
    if signal_after_step:
        real_write = MetricsLog.write

        def write(self, step, record):
            real_write(self, step, record)
            if step == signal_after_step and "loss" in record:
                os.kill(os.getpid(), signum)

        MetricsLog.write = write
    argv = ["train", *SMOKE, "--out", out, *[a for s in sets for a in ("--set", s)]]
    code = main(argv + (["--resume"] if resume else []))
    if count_file:
        with open(count_file, "w") as f:
            f.write(str(counter.n))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip multiprocessing's exit handling: the CLI's exit code is the result
