"""`python -m tools.mock_upstream`: the mock-upstream server without the modelgate CLI."""

from __future__ import annotations

import argparse
import sys

from tools.mock_upstream.cli import configure_parser, main

DESCRIPTION = (
    "Local HTTP server imitating OpenAI, Cohere, SageMaker and Bedrock for tests and benchmarks."
)


def _cli() -> int:
    parser = argparse.ArgumentParser(prog="mock-upstream", description=DESCRIPTION)
    configure_parser(parser)
    return main(parser.parse_args())


if __name__ == "__main__":
    sys.exit(_cli())
