"""``python -m stonith`` is the ``stonith`` command."""

import sys

from stonith.cli import main

sys.exit(main())
