"""``python -m onestep_gm.experiments.cli``: the ``onestep`` command."""

from onestep_gm.experiments.cli.main import main

raise SystemExit(main())
