"""Qilin's messages: one logger per module under `qilin`, set up once by the command line.

    log = get_logger(__name__)
    log.info("packed 120 conversations into 9 rows")      # stdout, main process only, the bare message
    log.warning("DeepSpeed needs GPUs")                   # stderr, every process, "[rank 1] warning: ..."

At the default level the terminal shows the same lines as before logging existed; `qilin -q` keeps warnings
and errors only, `qilin -v` adds debug messages. A leaf module: it imports nothing of ours, so every package
can use it (torchtune's `get_logger` and rank-zero logging are the model).
"""

from __future__ import annotations

import logging
import os
import sys

ROOT = "qilin"


def get_logger(name: str) -> logging.Logger:
    """The logger of a module (pass `__name__`)."""
    return logging.getLogger(name)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


class _MainProcessOnly(logging.Filter):
    """Drops messages below WARNING in every process but the main one (a launched run has N copies of each)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _rank() == 0


class _Format(logging.Formatter):
    """Info as the bare message (today's lines); warnings and errors with their level, and the rank when launched."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno < logging.WARNING:
            return message
        prefix = f"{record.levelname.lower()}: "
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            prefix = f"[rank {_rank()}] {prefix}"
        return prefix + message


class _Console(logging.StreamHandler):
    """Writes to whatever sys.stdout / sys.stderr is at the time of the message (pytest and tools swap them)."""

    def __init__(self, name: str):
        self._stream_name = name
        super().__init__()

    @property
    def stream(self) -> object:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _Below(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def setup_logging(verbosity: int = 0) -> None:
    """Send the `qilin` loggers to stdout (info, debug) and stderr (warnings, errors).

    verbosity: -1 warnings and errors only, 0 info (the default), 1 or more debug. Calling it again replaces the
    handlers, so tests and repeated `main()` calls do not print each line twice.
    """
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)
    logger.propagate = False
    out = _Console("stdout")
    out.addFilter(_Below(logging.WARNING))
    out.addFilter(_MainProcessOnly())
    err = _Console("stderr")
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(_Format("%(message)s"))
        logger.addHandler(handler)
