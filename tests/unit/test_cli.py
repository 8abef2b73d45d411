"""The terminal entry point: same engine, no server."""

from __future__ import annotations


def test_only_a_reader_that_left_stops_the_crawl_not_any_write_error():
    import io

    from crawler.cli import GuardedStream

    gone: list[str] = []
    ascii_out = GuardedStream(io.TextIOWrapper(io.BytesIO(), encoding="ascii"), "stdout", lambda s: gone.append(s.name))
    try:
        ascii_out.write("café\n")
        ascii_out.flush()
    except UnicodeEncodeError:
        pass
    assert gone == [] and not ascii_out.gone  # an encoding problem is not a closed output
    closed = io.StringIO()
    closed.close()
    stream = GuardedStream(closed, "stdout", lambda s: gone.append(s.name))
    assert stream.write("line\n") == 5 and stream.gone and gone == ["stdout"]
    stream.write("more\n")
    assert gone == ["stdout"]  # told once


def test_prefer_site_markdown_reaches_the_crawl_settings_from_the_command_line():
    from crawler.cli import crawl_config, parse_args

    assert crawl_config(parse_args(["https://docs.example.org/", "--prefer-site-markdown"])).prefer_site_markdown is True
    assert crawl_config(parse_args(["https://docs.example.org/"])).prefer_site_markdown is False
