"""`onestep curve` (not built yet)."""

HELP = "curve (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep curve is not built yet")
