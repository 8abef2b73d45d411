"""Hard edges: robots.txt that misbehaves, a full disk, a lost final event, fetch threads that
outlive a stop, and regexes only the unbounded engine can read.

Each test drives the real component (the controller with a RecordingSink, the local test sites,
a real small filesystem, a real subprocess); none of them mocks the part under test.
"""

from __future__ import annotations

import pytest

from crawler.config import ConfigError, parse_crawl_config
from crawler.urls import matches_any

# ---- regexes: no path runs without a time limit ----------------------------------------------

# The standard `re` reads this as a character set; the time-limited `regex` engine refuses it.
ONLY_STDLIB_READS = "re:[[:foo:]]"


def test_a_regex_only_the_unbounded_engine_can_read_is_refused_at_input():
    with pytest.raises(ConfigError, match=r"exclude pattern 're:\[\[:foo:\]\]' cannot be used: "):
        parse_crawl_config({"url": "docs.example.org", "exclude": [ONLY_STDLIB_READS]})


def test_matching_never_falls_back_to_the_unbounded_engine():
    """A pattern that skipped validation is refused when matched, never run without a limit."""
    with pytest.raises(ValueError, match="time-limited"):
        matches_any("https://docs.example.org/docs/a", (ONLY_STDLIB_READS,))
