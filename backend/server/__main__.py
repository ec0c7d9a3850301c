"""``python -m backend.server [serve options]``: the job server alone, as the add-on starts it.

Same options as ``python -m backend serve``, without building the whole CLI (so no other capability's imports or
argument errors can delay or break the server's start).
"""

import argparse
import logging
import sys

from backend.server.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.server", description="SMPLpix Studio job server")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
