"""Helpers of the curation tests: `qilin data` in this process, caption sources and images; fast retries, logging."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

import openai._base_client
import pytest
from PIL import Image

from qilin.cli import curation, preferences
from qilin.log import ROOT, setup_logging


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The openai client's backoff (0.5 s doubling to 8 s) is fixed in its module: 10 ms here keeps the tests fast."""
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(openai._base_client, "MAX_RETRY_DELAY", 0.05)


@pytest.fixture(autouse=True)
def qilin_logging() -> Iterator[None]:
    """The `qilin` loggers set up as the command line does (info lines on stdout), and put back afterwards."""
    logger = logging.getLogger(ROOT)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    setup_logging()
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def data_cli(argv: list[str]) -> int:
    """Run a `qilin data` verb in this process."""
    parser = argparse.ArgumentParser(prog="qilin data")
    verbs = parser.add_subparsers(dest="data_verb", required=True)
    curation.add_parser(verbs)
    preferences.add_parser(verbs)
    args = parser.parse_args(argv)
    return args.func(args)


def captions(n: int) -> list[dict]:
    text = "Case {i}: axial CT shows a {i} cm mass in the left kidney."
    return [{"image": f"img{i}.png", "caption": text.format(i=i)} for i in range(n)]


def make_images(folder: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        Image.new("RGB", (16, 16), (40 * i % 256, 90, 160)).save(folder / name)
