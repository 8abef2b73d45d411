"""The crawl engine: a controller takes a config, an event sink and a stop signal, and
crawls (fetching, parsing, extracting, storing). It knows nothing of Flask, Socket.IO,
Redis or Celery."""
