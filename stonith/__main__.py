"""``python -m stonith`` is the ``stonith`` command."""

from stonith.cli.main import run

run()
