"""The cluster part of the service: crawl records in Redis, Celery jobs, the event
queue between workers and web servers, and the worker process."""
