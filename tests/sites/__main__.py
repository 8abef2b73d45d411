"""python -m tests.sites --port 8002: the rendering test sites, by hand."""

from tests.sites import main

main()
