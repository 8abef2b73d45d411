"""``crawler URL``: crawl from the terminal (see crawler/cli.py)."""

import sys

from crawler.cli import main

sys.exit(main())
