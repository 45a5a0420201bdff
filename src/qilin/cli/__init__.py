"""The `qilin` command line: one module per command group, each with `add_parser(subparsers)`; no library logic."""

from qilin.cli.main import main

__all__ = ["main"]
