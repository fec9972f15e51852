r"""Time budgets for symbolic work: a derivation that runs too long is stopped, not waited for.

SymPy has no timeout of its own, and some of its routines (``solveset``, ``simplify``,
``expand_complex`` on large exponential sums) can run for many minutes on innocent input.
:func:`within_budget` runs the work in the calling thread and, once it has used the budget,
raises :class:`BudgetExceeded` inside it.  The budget counts the working thread's own CPU
time where the platform has per-thread clocks (Linux, macOS, the BSDs), so a busy machine
does not turn an exact result into a numeric one; elsewhere it counts wall time.  The exception is delivered by a timer
thread through CPython's ``PyThreadState_SetAsyncExc`` (the mechanism behind
``threading``'s own interruption tests), so it works in any thread (Dask workers, the main
thread) and on any platform, needs no signal (``SIGALRM`` exists only in the main thread on
POSIX) and costs nothing while the work runs.  It is delivered at the next Python bytecode
boundary: a single long call into C finishes first.

Callers catch :class:`BudgetExceeded` and take their numeric route instead.

Examples
--------
>>> within_budget(1.0, lambda: 6 * 7)
42
>>> def spin():
...     while True:
...         pass
>>> within_budget(0.05, spin)
Traceback (most recent call last):
...
onestep_gm.theory.budget.BudgetExceeded: symbolic work stopped after its budget of 0.05 s
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["BudgetExceeded", "within_budget"]

T = TypeVar("T")


class BudgetExceeded(TimeoutError):
    """Symbolic work ran past its time budget (the numeric route applies)."""


class _Expired(BaseException):
    # A BaseException, so that SymPy's own ``except Exception`` handlers do not swallow it.
    pass


def _raise_in(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Schedule ``exc_type`` in the thread (``None`` clears one not yet delivered)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )


def _thread_clock(thread_id: int) -> Callable[[], float]:
    """The CPU clock of the thread where the platform has one, else the wall clock."""
    try:
        clock = time.pthread_getcpuclockid(thread_id)
        time.clock_gettime(clock)
    except (AttributeError, OSError):  # pragma: no cover - no per-thread clocks here
        return time.monotonic
    return lambda: time.clock_gettime(clock)


def within_budget(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, or :class:`BudgetExceeded` once it has used ``seconds`` of its thread's CPU time.

    Parameters
    ----------
    seconds:
        The budget (the calling thread's CPU time; wall time where there is no thread clock).
    work:
        A function of no arguments, run in the calling thread.

    Raises
    ------
    BudgetExceeded
        When the budget is spent before ``work`` returns.  Exceptions of ``work`` pass through.
    """
    expired = type("_Expired", (_Expired,), {})  # one class per call: nested budgets stay apart
    thread_id, lock, stop = threading.get_ident(), threading.Lock(), threading.Event()
    clock = _thread_clock(thread_id)
    state = {"done": False, "fired": False}
    start = clock()

    def watch():
        while not stop.wait(min(0.05, seconds / 4)):
            if clock() - start > seconds:
                with lock:
                    if not state["done"]:
                        state["fired"] = True
                        _raise_in(thread_id, expired)
                return

    threading.Thread(target=watch, daemon=True, name="onestep-budget").start()
    try:
        try:
            return work()
        finally:
            with lock:
                state["done"] = True
                if state["fired"]:
                    _raise_in(thread_id, None)  # finished in the nick of time: drop the pending one
            stop.set()
    except expired:
        raise BudgetExceeded(f"symbolic work stopped after its budget of {seconds:g} s") from None
