"""The ``onestep`` command line: one module per command (:mod:`.main` dispatches).

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``: it parses,
calls one library function and prints.  Validation lives in the library.
"""

from onestep_gm.experiments.cli.main import COMMANDS, build_parser, entry, main

__all__ = ["COMMANDS", "build_parser", "entry", "main"]
