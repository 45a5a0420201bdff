"""The shape of the command line: one module per command group, each with add_parser(subparsers) and run(args)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import qilin.cli
from qilin.cli.main import build_parser

# main.py wires the groups and __main__.py runs it.
NOT_A_GROUP = {"main", "__main__"}


def test_every_command_module_has_add_parser_and_run() -> None:
    names = {m.name for m in pkgutil.iter_modules(qilin.cli.__path__)} - NOT_A_GROUP
    assert {"run", "data", "curation", "preferences", "evaluate", "eval_safety", "serve", "export", "rag"} <= names
    for name in names:
        module = importlib.import_module(f"qilin.cli.{name}")
        assert len(inspect.signature(module.add_parser).parameters) == 1, name  # the subparsers it adds to
        assert list(inspect.signature(module.run).parameters) == ["args"], name


def test_each_verb_runs_through_its_modules_run() -> None:
    """No verb calls a private function directly: each parser's func is its module's run(args)."""
    parser = build_parser()
    verbs = {
        ("run", "demo.yaml"): "run",
        ("train", "sft", "--model", "m", "--data", "d", "--output", "o"): "run",
        ("data", "build", "--out", "o"): "data",
        ("data", "deid", "f", "--out", "o"): "data",
        ("data", "review", "d", "--reviewer", "me"): "curation",
        ("data", "compare", "q", "--models", "a", "b", "--out", "o"): "preferences",
        ("serve", "m"): "serve",
        ("chat", "m"): "serve",
        ("export", "llava", "m", "o"): "export",
        ("rag", "index", "c", "--out", "o"): "rag",
    }
    for argv, module in verbs.items():
        args = parser.parse_args(list(argv))
        assert args.func is importlib.import_module(f"qilin.cli.{module}").run, argv
