"""`onestep order` (not built yet)."""

HELP = "order (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep order is not built yet")
