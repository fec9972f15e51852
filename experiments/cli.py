"""The ``onestep`` command line: one subcommand per module ``experiments/cmd_<name>.py``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``.  Bad input anywhere (argparse, a ``ValueError`` from the
library, a missing or corrupt file) prints one line on stderr and exits 2;
nothing is written before the input has been validated.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("order", "hermite", "moments", "derive", "simulate", "bench", "figure", "report", "curve", "sweep")
_NUMERIC = {"moments", "derive", "simulate", "bench", "figure", "curve", "sweep"}
"""Commands that run JAX: the CLI is an entry point and switches it to 64-bit for them."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="onestep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"onestep_gm.experiments.cmd_{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in _NUMERIC:
            from onestep_gm.numerics.compile_cache import (  # JAX: numeric commands only
                enable_compile_cache,
            )
            from onestep_gm.numerics.precision import (  # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
                enable_x64,  # imports JAX: numeric commands only
            )

            enable_x64()
            enable_compile_cache()  # persistent, shared compile cache unless ONESTEP_COMPILE_CACHE=0
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("onestep: interrupted (cached results are kept; re-run to resume)\n")
        return 130
    except (ValueError, OSError, ArithmeticError) as exc:
        if os.environ.get("ONESTEP_DEBUG"):
            raise
        sys.stderr.write(f"onestep {args.command}: error: {_one_line(exc)}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        if os.environ.get("ONESTEP_DEBUG"):
            raise
        sys.stderr.write(
            f"onestep {args.command}: internal error ({type(exc).__name__}): {_one_line(exc)}"
            " (set ONESTEP_DEBUG=1 for a traceback)\n"
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
