"""`onestep derive` (not built yet)."""

HELP = "derive (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep derive is not built yet")
