"""`onestep hermite` (not built yet)."""

HELP = "hermite (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep hermite is not built yet")
