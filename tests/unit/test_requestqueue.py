"""A host's queue past what it keeps in memory: order, retries at the front, a disk that is full."""

from __future__ import annotations

import os
import stat
import tracemalloc

import pytest

from crawler.engine import requestqueue
from crawler.engine.frontier import Admission, Frontier
from crawler.engine.outcome import CrawlRequest
from crawler.engine.requestqueue import RequestQueue


def _request(n: int, tries: int = 0) -> CrawlRequest:
    return CrawlRequest(f"https://docs.example.org/p/{n}é", n % 7, f"https://docs.example.org/r/{n}", "link", tries)


def _drain(queue: RequestQueue) -> list[CrawlRequest]:
    out = []
    while queue:
        out.append(queue.popleft())
    return out


def test_requests_come_back_in_the_order_they_came_whatever_went_to_the_file():
    queue = RequestQueue(keep=10)
    taken = []
    for n in range(95):
        queue.append(_request(n, tries=n % 3))
        if n % 4 == 3:  # handed out while the queue fills, as a crawl does
            taken.append(queue.popleft())
    assert queue._in_file > 0, "past 10 requests the rest wait in the file"
    assert len(queue) == 95 - len(taken)
    assert taken + _drain(queue) == [_request(n, tries=n % 3) for n in range(95)]
    with pytest.raises(IndexError):
        queue.popleft()


def test_a_request_put_back_goes_first_and_the_file_starts_over_once_read():
    queue = RequestQueue(keep=3)
    for n in range(8):
        queue.append(_request(n))
    first = queue.popleft()
    queue.appendleft(_request(100, tries=1))  # a retry is due
    assert queue.popleft() == _request(100, tries=1)
    assert [first, *_drain(queue)] == [_request(n) for n in range(8)]
    assert queue._file is not None and queue._file.seek(0, 2) == 0, "emptied, not left growing"
    queue.append(_request(9))
    assert _drain(queue) == [_request(9)]


def test_when_the_file_cannot_be_written_requests_stay_in_memory_in_order(monkeypatch):
    queue = RequestQueue(keep=4)
    for n in range(6):
        queue.append(_request(n))  # 4 in memory, 2 in the file

    real_pwrite = requestqueue.os.pwrite

    def half_then_full(fd, data, offset):
        if not calls:  # the first line goes in part, then the disk is full
            calls.append(offset)
            return real_pwrite(fd, data[: len(data) // 2], offset)
        raise OSError(28, "No space left on device")

    calls: list[int] = []
    monkeypatch.setattr(requestqueue.os, "pwrite", half_then_full)
    for n in range(6, 12):
        queue.append(_request(n))
    assert len(queue) == 12 and len(queue._tail) == 6
    assert os.fstat(queue._file.fileno()).st_size == calls[0], "the half-written line is cut off"
    assert _drain(queue) == [_request(n) for n in range(12)]


def test_a_closed_queue_drops_what_it_held_and_takes_nothing_more():
    queue = RequestQueue(keep=2)
    for n in range(5):
        queue.append(_request(n))
    queue.close()
    queue.append(_request(6))
    assert not queue and len(queue) == 0 and queue._file is None


def _queue_50k(frontier: Frontier) -> int:
    """Bytes the frontier holds after 20,000 URLs were queued."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20_000):
            assert frontier.offer(f"https://docs.example.org/guide/section-{n % 40}/page-{n}.html", 2)[0] == Admission.QUEUED
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_frontier_of_a_large_site_keeps_its_queue_out_of_memory(monkeypatch):
    def frontier() -> Frontier:
        return Frontier("https://docs.example.org/", scope="prefix", max_depth=10, max_pages=200_000,
                        per_host_concurrency=100_000)

    spilling = frontier()
    held = _queue_50k(spilling)
    monkeypatch.setattr(requestqueue, "KEEP_IN_MEMORY", 10**9)  # every request in memory, as before
    in_memory = frontier()
    held_before = _queue_50k(in_memory)
    assert held_before - held > 2 * 2**20, f"{held / 2**20:.1f} MB against {held_before / 2**20:.1f} MB in memory"
    assert spilling.queued == in_memory.queued == 20_000
    urls = [spilling.next_request().url for _ in range(20_000)]
    assert urls == [f"https://docs.example.org/guide/section-{n % 40}/page-{n}.html" for n in range(20_000)]
    assert spilling.next_request() is None and spilling.is_done() is False  # handed out, not finished
    spilling.close()
    in_memory.close()


def test_the_file_is_in_the_crawls_folder_without_a_name_and_private(tmp_path):
    queue = RequestQueue(keep=2, folder=tmp_path)
    for n in range(5):
        queue.append(_request(n))
    assert queue._file is not None
    status = os.fstat(queue._file.fileno())
    assert status.st_dev == os.stat(tmp_path).st_dev, "on the crawl folder's disk, not the temporary folder's"
    assert stat.S_IMODE(status.st_mode) == 0o600 and status.st_nlink == 0
    assert list(tmp_path.iterdir()) == [], "nothing in the folder's listing"
    assert _drain(queue) == [_request(n) for n in range(5)]
    queue.close()


def test_any_string_a_page_can_put_in_a_url_comes_back_as_it_was():
    odd = ["https://docs.example.org/a\nb", "https://docs.example.org/\u2028\u2029", "https://doc\ud800s.example.org/",
           "https://docs.example.org/\"quoted\"\\", "https://docs.example.org/日本語"]
    queue = RequestQueue(keep=1)
    for url in odd:
        queue.append(CrawlRequest(url, 1, url, "link"))
    assert queue._in_file == len(odd) - 1
    assert [request.url for request in _drain(queue)] == odd
