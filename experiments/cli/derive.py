"""``onestep derive``: write the derived formulas as Markdown pages, or check they are current."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("derivations"),
                        help="output directory (default derivations)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a page on disk is missing or stale")


def run(args: argparse.Namespace) -> int:
    from onestep_gm.experiments.derive import (  # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
        render_all,
        stale_pages,
        write_pages,
    )

    start = time.perf_counter()
    pages = render_all()
    if args.check:
        problems = stale_pages(args.out, pages)
        if problems:
            for file_name, why in problems:
                print(f"{args.out / file_name}: {why}", file=sys.stderr)
            print(f"derivations out of date ({len(problems)} file(s)); run `onestep derive`",
                  file=sys.stderr)
            return 1
        print("derivations up to date")
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} exists and is not a directory")
    paths = write_pages(args.out, pages)
    print(f"wrote {len(paths)} pages to {args.out}/ in {time.perf_counter() - start:.1f} s")
    return 0
