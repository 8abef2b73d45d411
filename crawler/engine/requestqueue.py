"""A host's pending requests, first in, first out, with only the oldest few thousand in memory.

A docs site of 100,000 pages has most of its URLs known long before they are fetched: on a site
whose pages each link three new ones, ~67,000 requests wait at once (~175 bytes each in memory).
`RequestQueue` keeps the first `keep` of them in a deque and writes the rest, one JSON line each,
to an anonymous temporary file in the crawl's folder (on the disk sized for the crawl, where a
temporary folder may be memory; created 0600 and already unlinked: no name in the folder, nothing
to clean up, nothing another process can open), reading them back in order, a batch at a time, as
the deque drains. The file is emptied whenever everything written has been read back, so it holds at most
the requests waiting at one moment.

A request put back at the front (a retry, or one handed out and returned) stays in memory. If the
file cannot be written (no space left), requests stay in memory behind the ones already in it:
the order holds and nothing is lost.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from pathlib import Path
from typing import IO

from crawler.engine.outcome import CrawlRequest

KEEP_IN_MEMORY = 4096  # requests per host kept in memory before the rest go to the file
READ_BYTES = 1 << 20  # read back a megabyte at a time


class RequestQueue:
    def __init__(self, keep: int | None = None, folder: Path | None = None) -> None:
        self._keep = max(1, KEEP_IN_MEMORY if keep is None else keep)
        self._folder = folder  # None: the system's temporary folder
        self._head: deque[CrawlRequest] = deque()  # served first
        self._file: IO[bytes] | None = None  # then these, in the order written (unbuffered: each
        self._in_file = 0                    # line is on disk, or not counted, when _write returns)
        self._read_at = 0
        self._end = 0
        self._tail: deque[CrawlRequest] = deque()  # then these (the file could not be written)
        self._closed = False

    def __len__(self) -> int:
        return len(self._head) + self._in_file + len(self._tail)

    def append(self, request: CrawlRequest) -> None:
        if self._closed:  # a page still being handled when its crawl ended: nothing will fetch it
            return
        if not self._in_file and not self._tail and len(self._head) < self._keep:
            self._head.append(request)
        elif self._tail or not self._write(request):
            self._tail.append(request)

    def appendleft(self, request: CrawlRequest) -> None:
        self._head.appendleft(request)

    def popleft(self) -> CrawlRequest:
        if not self._head:
            self._refill()
        return self._head.popleft()  # IndexError when empty, as a deque's

    def close(self) -> None:
        """Drop what is queued and the file (a crawl that ended)."""
        self._closed = True
        self._head.clear()
        self._tail.clear()
        self._in_file = 0
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, request: CrawlRequest) -> bool:
        # ASCII JSON: whatever a page's links hold (a newline, U+2028, a lone surrogate) stays on its line.
        line = json.dumps([request.url, request.depth, request.referrer, request.source, request.tries],
                          separators=(",", ":")).encode("ascii") + b"\n"
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix=".queue-", dir=self._folder, buffering=0)  # noqa: SIM115 - open for the queue's life, closed by close()
            if os.pwrite(self._file.fileno(), line, self._end) == len(line):
                self._end += len(line)
                self._in_file += 1
                return True
        except OSError:  # no room on the disk: memory it is
            pass
        if self._file is not None:  # a line written in part is cut off again
            try:
                os.ftruncate(self._file.fileno(), self._end)
            except OSError:
                pass
        return False

    def _refill(self) -> None:
        """The next batch from the file into memory; the file's backlog moves up in order."""
        if self._in_file and self._file is not None:
            fd, wanted = self._file.fileno(), min(self._keep, self._in_file)
            data = b""
            while data.count(b"\n") < wanted:  # (every counted line is whole on disk)
                chunk = os.pread(fd, READ_BYTES, self._read_at + len(data))
                if not chunk:
                    raise OSError("the crawl's queue file ended before its last line")
                data += chunk
            for line in data.split(b"\n", wanted)[:wanted]:
                url, depth, referrer, source, tries = json.loads(line)
                self._head.append(CrawlRequest(url, depth, referrer, source, tries=tries))
                self._read_at += len(line) + 1
            self._in_file -= wanted
            if not self._in_file:  # everything written was read back: start the file over
                os.ftruncate(fd, 0)
                self._read_at = self._end = 0
        if not self._head and self._tail:
            self._head, self._tail = self._tail, deque()
