"""Property-based tests: URL normalisation, the mapping of URLs and ids to files, and a fast path
of the Markdown converter against the pattern it stands for.

Example-based tests check the cases someone thought of; these let hypothesis generate hostile
paths, queries and ids (dot segments, encoded dots, backslashes, NUL, absolute paths, unicode)
and check the invariants that keep a crawl finite and its files inside the data directory.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from urllib.parse import quote, urlsplit

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from crawler.engine.urls import canonical_url, in_scope
from crawler.folder.paths import CRAWL_ID_PATTERN
from crawler.folder.writer import MAX_SEGMENT, relative_page_path

# The same examples on every run: CI stays deterministic; widen with HYPOTHESIS_PROFILE=explore.
settings.register_profile("ci", derandomize=True, database=None, max_examples=400, deadline=None)
settings.register_profile("explore", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


SEGMENT_ALPHABET = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@ \\\x00éü/"  # no ? or #: not path
segments = st.one_of(
    st.sampled_from(["..", ".", "", "%2e%2e", "%2E%2E", "..%2f..", "%2f", "..\\..", "index.html", "a b",
                     "/etc/passwd", "C:\\Windows", "%00", "~user", "é", "x" * 300]),
    st.text(alphabet=SEGMENT_ALPHABET, max_size=40),
)
paths = st.lists(segments, max_size=8).map(lambda parts: "/" + "/".join(parts))
queries = st.one_of(st.just(""), st.lists(
    st.tuples(st.sampled_from(["utm_source", "utm_medium", "q", "page", "fbclid", "lang"]),
              st.text(alphabet=string.ascii_letters + string.digits + " &=%", max_size=10)),
    max_size=4).map(lambda pairs: "&".join(f"{k}={quote(v)}" for k, v in pairs)))
hosts = st.sampled_from(["docs.example.org", "DOCS.Example.ORG", "docs.example.org.", "127.0.0.1:8000",
                         "docs.example.org:443", "[::1]:8080"])
schemes = st.sampled_from(["http", "https", "HTTPS"])


def build(scheme: str, host: str, path: str, query: str, fragment: str = "") -> str:
    url = f"{scheme}://{host}{path}"
    if query:
        url += "?" + query
    if fragment:
        url += "#" + fragment
    return url


@given(schemes, hosts, paths, queries, st.text(max_size=5))
def test_canonical_url_is_idempotent_and_clean(scheme, host, path, query, fragment):
    canonical = canonical_url(build(scheme, host, path, query, fragment))
    assume(canonical is not None)
    assert canonical_url(canonical) == canonical  # a second pass changes nothing
    parts = urlsplit(canonical)
    assert parts.scheme in ("http", "https") and parts.fragment == ""
    default_port = {"http": ":80", "https": ":443"}[parts.scheme]
    assert parts.netloc == parts.netloc.lower() and not parts.netloc.endswith(default_port)
    assert all(segment not in (".", "..") for segment in parts.path.split("/"))
    assert "utm_" not in parts.query and "fbclid" not in parts.query


@given(paths, queries)
def test_equivalent_spellings_have_one_canonical_form(path, query):
    # Whitespace around a whole URL is trimmed (as browsers trim an href); inside, before a
    # fragment, it is part of the path. Only compare spellings that keep the path intact.
    assume(path == path.rstrip())
    plain = canonical_url(build("https", "docs.example.org", path, query))
    assume(plain is not None)
    for variant in (build("HTTPS", "DOCS.example.org:443", path, query, "frag"),
                    build("https", "docs.example.org", path, (query + "&" if query else "") + "utm_source=x")):
        assert canonical_url(variant) == plain


@given(paths)
def test_dot_segments_never_escape_a_prefix_scope(path):
    start = "https://docs.example.org/guide/"
    canonical = canonical_url("https://docs.example.org/guide/" + path.lstrip("/"))
    assume(canonical is not None)
    if in_scope(canonical, start, "prefix"):
        assert urlsplit(canonical).path.startswith("/guide/")


@given(schemes, paths, queries)
@example("https", "/../../../../etc/passwd", "")
@example("https", "/%2e%2e/%2e%2e/secret", "")
@example("https", "/a/..%2f..%2f..%2fsecret", "")
@example("https", "/C:\\Windows\\system.ini", "")
def test_page_paths_stay_inside_the_pages_folder(scheme, path, query):
    url = canonical_url(build(scheme, "docs.example.org", path, query)) or build("https", "x", path, query)
    relative = relative_page_path(url)
    assert relative.startswith("pages/") and relative.endswith(".md")
    segments = relative.split("/")
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert all(set(segment) <= set(string.ascii_letters + string.digits + "._-") for segment in segments)
    # a segment, plus a query digest ("_q-" + 8) and a collision digest ("-" + 8), plus ".md"
    assert all(len(segment) <= MAX_SEGMENT + 11 + 9 + 3 for segment in segments)
    root = Path("/data/crawl")
    assert (root / relative).resolve().is_relative_to(root / "pages")


HOSTILE_AFFIXES = st.text(alphabet="./\\%\n\x00-abcdefABCDEF0123456789:", max_size=6)
VALID_IDS = st.from_regex(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", fullmatch=True)


@given(HOSTILE_AFFIXES, VALID_IDS, HOSTILE_AFFIXES)
@example("../", "20261123-184012-a1b2c3", "")
@example("", "20261123-184012-a1b2c3", "/..")
@example("", "20261123-184012-a1b2c3", "\n")
def test_only_an_exact_crawl_id_names_a_folder_and_it_is_inside_the_data_dir(prefix, crawl_id, suffix):
    """A valid id with anything around it (../, encoded slashes, NUL, a newline) is not an id."""
    text = prefix + crawl_id + suffix
    assert bool(CRAWL_ID_PATTERN.fullmatch(text)) == (text == crawl_id)
    if CRAWL_ID_PATTERN.fullmatch(text):
        assert (Path("/data") / text).resolve().parent == Path("/data")


def test_hostile_crawl_ids_are_not_crawl_ids():
    for text in ("../../etc/passwd", "..%2F..%2Fetc", "%2e%2e", "/etc/passwd", "20261123-184012-a1b2c3/../../x",
                 "20261123-184012-a1b2c3\n", "20261123-184012-A1B2C3", "C:\\x", "20261123-184012-a1b2c3/..", ""):
        assert not CRAWL_ID_PATTERN.fullmatch(text), text


@given(st.text(alphabet=" \t\n\r\x0b\x0cab.\x1c\x1f\x85\xa0\u2003\u3000é", max_size=24))
def test_the_fast_whitespace_collapse_is_the_pattern_s(line):
    from crawler.engine.markdown import _SPACES, _collapsed

    assert _collapsed(line) == _SPACES.sub(" ", line).strip()
