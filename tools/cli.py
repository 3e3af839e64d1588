"""The `modelgate` console command: one sub-command per process kind."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

# Sub-command -> module; each module offers configure_parser(parser) and main(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("tools.stack", "run the whole stack: Redis, API, one ML-node and one data-node worker"),
    "api": ("tools.serve", "serve the REST API (granian)"),
    "worker": ("tools.serve_worker", "run one worker node (--role ml|data): predicts and jobs"),
    "mock-upstream": (
        "tools.mock_upstream.cli",
        "serve imitations of OpenAI, Cohere, SageMaker, Bedrock",
    ),
    "bench": ("tools.bench.cli", "drive predict load at the API and print throughput and latency"),
}

# Children run `python -m tools.cli`, which resolves from the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def command(*args: str) -> list[str]:
    """The command line that runs this CLI with args in a child process."""
    return [sys.executable, "-m", "tools.cli", *args]


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only the chosen sub-command's module is imported.

    Importing every sub-command (the bench and the mock upstream pull in aiohttp and more)
    would cost each long-running process tens of MB and tie it to code it never runs.
    """
    parser = argparse.ArgumentParser(prog="modelgate", description=__doc__)
    subs = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.configure_parser(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv and run the chosen sub-command."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(arguments)
    return int(args._module.main(args))


if __name__ == "__main__":
    sys.exit(main())
