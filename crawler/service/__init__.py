"""Crawls as a service: records in one state store, run by a backend, reached through one service.

- ``records.py``: a crawl's record and the :class:`CrawlStates` interface (in memory here,
  ``redis_states.py`` in cluster mode): the one place a crawl's state, counts and owner live.
- ``statesink.py``: engine events recorded into that store by whichever process runs the crawl.
- ``history.py``: crawl folders as the durable journal the store is rebuilt from.
- ``job.py``: one crawl job, as every host runs it (controller + crawl.json).
- ``local.py``: the embedded backend (threads in the web process, slot limits).
- ``cluster.py``: the cluster backend (Celery jobs, a Redis queue, leases, stop flags).
- ``service.py``: what the routes and socket handlers call.
"""

from crawler.folder.paths import CRAWL_ID_PATTERN, is_crawl_id
from crawler.service.crawls import CrawlService, new_crawl_id
from crawler.service.errors import NotResumable, QueueFull, StoreUnavailable, UnknownCrawl
from crawler.service.records import CrawlRecord, CrawlStates, MemoryCrawlStates, download_links

__all__ = ["CRAWL_ID_PATTERN", "is_crawl_id", "CrawlRecord", "CrawlService", "CrawlStates", "MemoryCrawlStates", "NotResumable",
           "QueueFull", "StoreUnavailable", "UnknownCrawl", "download_links", "new_crawl_id"]
