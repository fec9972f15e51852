"""`onestep simulate` (not built yet)."""

HELP = "simulate (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep simulate is not built yet")
