"""Command-line entry point: ``python -m backend <command> ...``.

Each capability registers its own sub-commands through an ``add_commands(subparsers)`` function in the module
listed in ``COMMAND_MODULES``; a command's handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# module -> its sub-commands; imported lazily so `--help` does not pay for torch.
COMMAND_MODULES = (
    "backend.bodymodels.cli",  # bodymodel info | export-rig
    "backend.server.cli",  # serve
    "backend.fitting.cli",  # estimate
    "backend.avatar.cli",  # avatar train | eval | render | export-onnx
    "backend.demo.cli",  # demo clip | novel-motion | score
    "backend.generate.cli",  # generate random | interpolate | reroll
    "backend.scan.cli",  # scan fit | rig
)


# command -> the module that defines it, so running one command imports only its module (``bodymodel`` pulls in
# torch at import; ``estimate`` must be able to refuse a read-only output folder before that).
COMMAND_HOMES = {"bodymodel": "backend.bodymodels.cli", "serve": "backend.server.cli",
                 "estimate": "backend.fitting.cli", "avatar": "backend.avatar.cli", "demo": "backend.demo.cli"}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a known command, only that command's module is imported."""
    parser = argparse.ArgumentParser(prog="python -m backend", description="SMPLpix Studio backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    command = next((a for a in (argv or []) if not a.startswith("-")), None)
    modules = (COMMAND_HOMES[command],) if command in COMMAND_HOMES else COMMAND_MODULES
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # capability not installed in this checkout
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return int(args.handler(args) or 0)
