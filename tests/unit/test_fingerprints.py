"""Fingerprints: the crawl's compact memory of URLs behaves as a set with counts."""

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.engine.fingerprints import Fingerprints


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=400), st.lists(st.text(max_size=30), max_size=50))
def test_it_answers_as_a_set_of_strings_with_counts(added, asked):
    prints = Fingerprints()
    counts: dict[str, int] = {}
    for text in added:
        counts[text] = counts.get(text, 0) + 1
        assert prints.add(text) == min(counts[text], 255)
    assert len(prints) == len(counts)
    for text in [*added, *asked]:
        assert (text in prints) == (text in counts)
        assert prints.count(text) == min(counts.get(text, 0), 255)


def test_it_keeps_every_member_through_its_growth_and_stays_small():
    urls = [f"https://docs.example.org/section-{i % 97}/page-{i}.html" for i in range(50_000)]
    prints = Fingerprints(urls[:10])
    prints.update(urls)
    assert len(prints) == 50_000
    assert all(url in prints for url in urls)
    assert not any(f"{url}?again" in prints for url in urls[:5000])
    assert prints.add(urls[0]) == 3  # added in the constructor and by update
    # One 8-byte slot and one count byte per place, the table at most half full and at least a
    # quarter: ~18-36 bytes a member (a set of the strings takes ~150).
    assert len(prints._slots) * 9 <= 36 * 50_000 + 9 * 64
