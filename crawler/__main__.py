"""``python -m crawler URL``: crawl from the terminal (see crawler/cli.py)."""

import sys

from .cli import main

sys.exit(main())
