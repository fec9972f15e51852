"""`onestep figure` (not built yet)."""

HELP = "figure (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep figure is not built yet")
