"""The ``onestep`` command line: one subcommand per module ``experiments/cli/<name>.py``.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``; its one-line
help sits in :data:`COMMANDS`, so that ``onestep --help`` imports no command module and the
parser imports only the module of the command that runs.  Bad input anywhere (argparse, a ``ValueError`` from the
library, a missing or corrupt file) prints one line on stderr and exits 2;
nothing is written before the input has been validated.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys
import threading

_INTERRUPTED = threading.Lock()


def _leave_interrupted(*_args) -> None:
    """Ctrl-C (or SIGTERM) at any moment: one line, remove staged temporary files, exit 130 at once.

    ``os._exit`` skips the interpreter's shutdown, which JAX/XLA threads can crash (a segfault
    after compilation was interrupted), and no ``KeyboardInterrupt`` is left for a library to
    swallow.  Every file is written atomically (:mod:`onestep_gm.numerics.files`), so the
    cache and the outputs hold either the old or the new version, never a partial one.
    """
    if not _INTERRUPTED.acquire(blocking=False):
        return
    files = sys.modules.get("onestep_gm.numerics.files")
    if files is not None:
        try:
            files.discard_pending()
        except Exception:  # noqa: BLE001 - leaving is all that is left to do
            pass
    command = _COMMAND or ""
    note = " (finished points are cached; re-run to resume)" if command in _CACHING else ""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        pass
    os.write(2, f"\nonestep{' ' + command if command else ''}: interrupted{note}\n".encode())
    os._exit(130)


def _watch_wakeup(fd: int) -> None:
    """Leave as soon as the C-level handler reports SIGINT on ``fd``, even while the main thread
    is inside a long XLA call (where the Python-level handler would wait for it to return)."""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data or signal.SIGTERM in data:
            _leave_interrupted()


def install_interrupt_handler() -> None:
    """Make SIGINT and SIGTERM (``kill``, a batch system's stop) print one line, remove staged
    temporary files and exit 130 at any moment (main thread only; once)."""
    if signal.getsignal(signal.SIGINT) is _leave_interrupted:
        return
    signal.signal(signal.SIGINT, _leave_interrupted)
    signal.signal(signal.SIGTERM, _leave_interrupted)
    try:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main thread, or no pipes: the handler alone
        return
    threading.Thread(target=_watch_wakeup, args=(read_fd,), daemon=True, name="onestep-sigint").start()


COMMANDS = {
    "order": "Hermite order l for spike strength β (with --alpha and --n also θ, η and b)",
    "hermite": "Hermite coefficients h_0..h_{L-1}, h_L* and E[σ(bz)²] of an activation",
    "moments": "conditional moments M0, M1, M2 of sigma(a + s g), g ~ N(0, 1): closed forms or 'quadrature'",
    "derive": "write derivations/*.md (h_j, h_L*, moments, order table); --check compares with disk",
    "simulate": "simulate one-step networks and their equivalent models at one point",
    "bench": "time the engine against a naive implementation and the float64 matmul peak",
    "figure": ("reproduce a figure of the paper (fig1a … fig8b, or all): png, pdf, json, csv, md; "
               "or check the theorem (order, convergence)"),
    "draws": "more theory draws for saved figures, until each theory line's s.e. is below its markers'",
    "report": "gather <out>/<name>.md reports and pictures into docs/results.md",
    "curve": "theory curve (deterministic equivalent) of train/gen error along m, k or lambda",
    "sweep": "run a user-defined sweep from a TOML spec: png, pdf, json, csv, md like a paper figure",
}
"""Subcommands and their one-line help, in the order ``onestep --help`` lists them."""
_NUMERIC = {"moments", "derive", "simulate", "bench", "figure", "curve", "sweep", "draws"}
"""Commands that run JAX: the CLI is an entry point and switches it to 64-bit for them."""
_CACHING = {"figure", "draws"}
"""Commands whose finished points survive an interrupt (their per-point cache)."""
_COMMAND: str | None = None


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as a single line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``onestep`` parser; with ``only``, the options of that one command alone.

    Every command is listed with its help line, but a command module (and what it imports,
    e.g. SymPy or JAX) is loaded only for the command that runs: ``only=None`` loads all of
    them (the CLI reference in the docs), ``only="order"`` only ``cli.order``.
    """
    parser = _Parser(prog="onestep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_line in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        if only is None or name == only:
            module = importlib.import_module(f"onestep_gm.experiments.cli.{name}")
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _command_of(argv: list[str]) -> str:
    """The subcommand named in ``argv`` (the first word that is one), or "" for none."""
    return next((word for word in argv if word in COMMANDS), "")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def main(argv: list[str] | None = None) -> int:
    """Run one ``onestep`` command; returns its exit status (0, 1 internal error, 2 bad input,
    130 interrupted).

    Called without ``argv`` (the console script, ``python -m``), it first installs the
    Ctrl-C handler (:func:`install_interrupt_handler`); with ``argv`` (a caller's own process,
    e.g. tests) it leaves the process's signal handling alone.
    """
    global _COMMAND
    if argv is None and threading.current_thread() is threading.main_thread():
        install_interrupt_handler()
        if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
            _COMMAND = sys.argv[1]  # named in an interrupt that lands while the parser is built
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_of(words))
    args = parser.parse_args(words)
    _COMMAND = args.command
    if getattr(args, "cache_dir", None):
        _CACHING.add(args.command)
    try:
        if args.command in _NUMERIC:
            from onestep_gm.numerics.compile_cache import (  # JAX: numeric commands only
                enable_compile_cache,
            )
            from onestep_gm.numerics.precision import (  # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
                enable_x64,  # imports JAX: numeric commands only
            )

            enable_x64()
            try:
                enable_compile_cache()  # persistent, shared compile cache unless ONESTEP_COMPILE_CACHE=0
            except OSError as exc:  # HOME read-only or a file, the folder read-only: run without it
                sys.stderr.write(f"onestep {args.command}: note: {_one_line(exc)}; running without a "
                                 "persistent compile cache\n")  # fmt: skip
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        _leave_interrupted()
        return 130
    except (ValueError, OSError, ArithmeticError) as exc:
        if os.environ.get("ONESTEP_DEBUG"):
            raise
        sys.stderr.write(f"onestep {args.command}: error: {_message(exc, args)}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        if os.environ.get("ONESTEP_DEBUG"):
            raise
        sys.stderr.write(
            f"onestep {args.command}: internal error ({type(exc).__name__}): {_one_line(exc)}"
            " (set ONESTEP_DEBUG=1 for a traceback)\n"
        )
        return 1


def entry() -> None:
    """The ``onestep`` console script: :func:`main`, then a fast exit with its status.

    Once the command has returned (its files are written and closed), the output streams are
    flushed and the exit handlers run (JAX's clean-up, file locks, logging); the process then
    ends without the interpreter's module-by-module teardown, a noticeable part of a short
    numeric command (see the Performance page of the docs).
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help (0), bad usage (2)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (e.g. `onestep ... | head`)
            pass
    atexit._run_exitfuncs()
    os._exit(code)


def _message(exc: BaseException, args: argparse.Namespace) -> str:
    """One line for a refusal: a memory refusal names the command-line option, an arithmetic
    failure without a message names the activation it came from."""
    from onestep_gm.numerics.memory import MemoryLimitError  # no JAX: a plain module

    if isinstance(exc, MemoryLimitError) and exc.parameter is not None:
        return exc.describe(f"--{exc.parameter.replace('_', '-')} {exc.value}")
    text = _one_line(exc)
    if isinstance(exc, ArithmeticError) and text in {"", type(exc).__name__} | _BARE:
        act = getattr(args, "activation", None)
        act = getattr(act, "name", act)
        act = ", ".join(map(str, act)) if isinstance(act, list | tuple) else act
        what = f"for --activation {act}" if act else "in this computation"
        return (f"{type(exc).__name__} {what}: the activation is singular on the real line or its "
                "Gaussian moments diverge; use an activation finite on the real line")
    return text


_BARE = {"division by zero", "float division by zero", "integer division or modulo by zero"}
