"""``python -m bench``: run the rows of bench/rows.py (options: ``python -m bench --help``)."""

import sys

from bench.harness import main
from bench.rows import ROWS, warnings

if __name__ == "__main__":
    for warning in warnings():
        print(f"bench: warning: {warning}", file=sys.stderr)
    sys.exit(main(ROWS))
