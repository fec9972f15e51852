"""`onestep report` (not built yet)."""

HELP = "report (not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise NotImplementedError("onestep report is not built yet")
