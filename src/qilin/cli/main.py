"""The `qilin` command: parse, set up logging, call the command group's function, turn user errors into exit 2."""

from __future__ import annotations

import argparse
import sys

from qilin.cli import data, evaluate, export, rag, run, serve
from qilin.config import ConfigError
from qilin.data.records import DataError
from qilin.log import get_logger, setup_logging
from qilin.models.endpoint import EndpointError

log = get_logger(__name__)

# One module per command group, in the order `qilin --help` lists them.
COMMAND_GROUPS = (run, data, evaluate, export, serve, rag)


class _ShowsDefaults(argparse.HelpFormatter):
    """Ends every option's help with its default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or action.required:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text  # a required positional has no default
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            shown = "on" if action.default else "off"
        elif action.default is None or action.default == []:
            shown = "none"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})"


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give `parser` and every parser below it the defaults-showing variant of its own formatter."""
    if not issubclass(parser.formatter_class, _ShowsDefaults):
        parser.formatter_class = type("WithDefaults", (_ShowsDefaults, parser.formatter_class), {})
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _show_defaults(child)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb."""
    parser = argparse.ArgumentParser(
        prog="qilin",
        description="Qilin: turn a general LLM into a medical one (DCPT -> SFT -> DPO), from one YAML recipe.",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    loudness.add_argument("-v", "--verbose", action="store_true", help="debug messages too")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in COMMAND_GROUPS:
        group.add_parser(verbs)
    _show_defaults(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `qilin` command."""
    parser = build_parser()
    # argparse cannot take positionals on both sides of an option (`run R.yaml --output D key=value`), so
    # KEY=VALUE words it leaves over are overrides too.
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a launcher runs again in every process
    if extra:
        if not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    setup_logging(-1 if args.quiet else 1 if args.verbose else 0)
    try:
        return args.func(args)
    except (ConfigError, DataError, FileNotFoundError, EndpointError) as e:
        log.error(str(e))
        return 2
