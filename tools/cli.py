"""The `modelgate` console command: one sub-command per process kind.

Every sub-command checks the MODELGATE_* settings before it starts anything: a missing or
malformed one ends it with one line on stderr and exit status 2, as a bad flag does. Each
sub-command's --help lists the variables it reads, from the table in common/settings.py.
A MODELGATE_* variable that is no setting gets a one-line warning (and is not passed on).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common.settings import (
    LOG_LEVELS,
    PREFIX,
    Reader,
    Settings,
    SettingsError,
    unknown_variables,
    variables_read_by,
)

HELP_WIDTH = 100
NAME_WIDTH = 30


@dataclass(frozen=True, slots=True)
class SubCommand:
    """A sub-command: its module (configure_parser(parser), main(args) -> int) and its needs."""

    module: str
    help: str
    readers: tuple[Reader, ...]  # the processes whose MODELGATE_* variables it reads
    needs_redis: bool = False  # refuses to start without MODELGATE_REDIS_URL
    log_flags: bool = False  # --verbose / --log-level set MODELGATE_LOG_LEVEL for its nodes
    env_note: str = ""
    sets: tuple[str, ...] = ()  # variables it sets itself for the processes it starts


_ALL = (Reader.API, Reader.NODE, Reader.STACK)
COMMANDS: dict[str, SubCommand] = {
    "up": SubCommand(
        "tools.stack",
        "run the whole stack (Redis, API, an ML and a data node, optionally the mock upstream),"
        " restarting any process that dies",
        _ALL,
        log_flags=True,
        env_note="passed on to the API and the nodes it starts",
        sets=(PREFIX + "NODE_ROLE", PREFIX + "NODE_NAME"),
    ),
    "api": SubCommand(
        "tools.serve", "serve the REST API (granian)", (Reader.API,), needs_redis=True
    ),
    "worker": SubCommand(
        "tools.serve_worker",
        "run one worker node (--role ml|data): predicts and jobs",
        (Reader.NODE,),
        needs_redis=True,
        log_flags=True,
    ),
    "beat": SubCommand(
        "tools.serve_beat",
        "send the periodic sync-up job (model TTL expiry); one per cluster",
        (Reader.NODE,),
        needs_redis=True,
        log_flags=True,
    ),
    "status": SubCommand(
        "tools.status",
        "show the nodes (heartbeat, models, in-flight, metrics port) and the queue depths",
        (Reader.STATUS,),
        needs_redis=True,
    ),
    "rotate-master-key": SubCommand(
        "tools.rotate_key",
        "re-seal every stored credential under a new master key (while the cluster serves)",
        (Reader.NODE,),
        needs_redis=True,
    ),
    "user": SubCommand(
        "tools.users_cli",
        "add, remove or list the users the API authenticates (security on)",
        (Reader.USERS,),
    ),
    "mock-upstream": SubCommand(
        "tools.mock_upstream.cli",
        "serve imitations of OpenAI, Cohere, SageMaker, Bedrock",
        (),
    ),
    "painless-bench": SubCommand(
        "tools.painless_bench",
        "time Painless pre/post-process scripts against the built-in functions",
        (),
    ),
    "simulate": SubCommand(
        "tools.simulate.cli",
        "run a local cluster of N ML and M data nodes under predict load and chart the routing"
        " (HTML report)",
        (),
    ),
    "bench": SubCommand(
        "tools.bench.cli",
        "drive predict load at the API and print throughput and latency",
        _ALL,
        env_note="passed on to the `modelgate up` that --spawn-stack starts",
        sets=tuple(
            PREFIX + name for name in ("REDIS_URL", "PORT", "DATA_DIR", "NODE_ROLE", "NODE_NAME")
        ),
    ),
}

# Children run `python -m tools.cli`, which resolves from the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def command(*args: str) -> list[str]:
    """The command line that runs this CLI with args in a child process."""
    return [sys.executable, "-m", "tools.cli", *args]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Flags show their defaults, unless there is none or the help names it; epilogs keep layout."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return action.help
        return super()._get_help_string(action)


def environment_help(sub: SubCommand) -> str:
    """The --help epilog: every MODELGATE_* variable the sub-command reads, with its default."""
    variables = [var for var in variables_read_by(sub.readers) if var.name not in sub.sets]
    if not variables:
        return "environment: reads no MODELGATE_* variable (a malformed one still stops it)"
    note = f"; {sub.env_note}" if sub.env_note else ""
    note += f"; it sets {', '.join(sub.sets)} itself" if sub.sets else ""
    lines = [textwrap.fill(f"environment (unset or empty: the default{note}):", HELP_WIDTH)]
    defaults = Settings()
    indent = " " * (NAME_WIDTH + 2)
    for var in variables:
        text = f"{var.help} ({defaults.describe(var)})"
        # A name too long for its column gets a line of its own, as argparse does for flags.
        fits = len(var.name) < NAME_WIDTH
        first = f"  {var.name:<{NAME_WIDTH}}" if fits else indent
        if not fits:
            lines.append(f"  {var.name}")
        lines.append(
            textwrap.fill(text, HELP_WIDTH, initial_indent=first, subsequent_indent=indent)
        )
    return "\n".join(lines)


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """--verbose or --log-level: how much the worker nodes say (MODELGATE_LOG_LEVEL)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="nodes log at INFO and show Celery's start-up banner (same as --log-level INFO)",
    )
    group.add_argument(
        "--log-level",
        "--loglevel",
        type=str.upper,
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help=f"node log level, one of {', '.join(LOG_LEVELS)}; INFO or DEBUG also shows"
        " Celery's banner (default: MODELGATE_LOG_LEVEL, else WARNING)",
    )


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only the chosen sub-command's module is imported.

    Importing every sub-command (the bench and the mock upstream pull in aiohttp and more)
    would cost each long-running process tens of MB and tie it to code it never runs.
    """
    parser = argparse.ArgumentParser(
        prog="modelgate",
        description=__doc__,
        formatter_class=HelpFormatter,
        epilog="`modelgate COMMAND --help` lists the flags and the variables COMMAND reads.",
    )
    subs = parser.add_subparsers(dest="command", required=True)
    for name, sub in COMMANDS.items():
        sub_parser = subs.add_parser(
            name,
            help=sub.help,
            description=sub.help,
            epilog=environment_help(sub),
            formatter_class=HelpFormatter,
        )
        if name == chosen:
            module = importlib.import_module(sub.module)
            module.configure_parser(sub_parser)
            if sub.log_flags:
                add_log_flags(sub_parser)
            sub_parser.set_defaults(_module=module)
    return parser


def _warn_of_unknown_variables() -> None:
    for name, warning in unknown_variables().items():
        print(f"modelgate: warning: {warning}", file=sys.stderr, flush=True)
        # Said once here: the processes this one starts (up's API and nodes) need not repeat it.
        del os.environ[name]


def _export_log_level(args: argparse.Namespace) -> None:
    """Put a --verbose / --log-level choice where this process and its children read it."""
    level = "INFO" if getattr(args, "verbose", False) else getattr(args, "log_level", None)
    if level:
        os.environ[PREFIX + "LOG_LEVEL"] = level


def check_settings(sub: SubCommand) -> Settings:
    """Read every MODELGATE_* variable now, so a bad one stops the command before it starts."""
    settings = Settings.from_env()
    if sub.needs_redis:
        settings.require_redis_url()
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv and run the chosen sub-command; a settings error ends it with status 2."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(arguments)
    _warn_of_unknown_variables()
    _export_log_level(args)
    try:
        check_settings(COMMANDS[args.command])
        return int(args._module.main(args))
    except SettingsError as error:
        print(f"modelgate: {error}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
