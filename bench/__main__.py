"""``python -m bench``: run the rows of bench/rows.py (options: ``python -m bench --help``)."""

import sys

from bench.harness import main
from bench.rows import ROWS

if __name__ == "__main__":
    sys.exit(main(ROWS))
