"""``python -m stonith`` is the ``stonith`` command."""

from stonith.cli import run

run()
