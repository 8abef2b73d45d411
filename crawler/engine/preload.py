"""Imported by the extraction workers' fork server, and nowhere else (CpuPool's preload list):
what importing it builds is made once and shared, copy on write, by every worker the fork server
forks (the workers freeze what they inherit: crawler/engine/heap.py)."""

from crawler.engine.extract import share_stoplist

share_stoplist()
