"""`onestep moments` (not built yet)."""

HELP = "moments (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep moments is not built yet")
