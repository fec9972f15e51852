"""`onestep bench` (not built yet)."""

HELP = "bench (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep bench is not built yet")
