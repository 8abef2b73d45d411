"""The Celery application that carries crawl jobs (broker: the cluster's Redis).

Web servers only send jobs through it; workers (``crawler.service.cluster.worker``) also consume them."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

QUEUE = "crawls"
TASK_NAME = "crawler.run_crawl"


def make_celery(redis_url: str) -> Celery:
    celery = Celery("crawler", broker=redis_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json", accept_content=["json"],
        worker_prefetch_multiplier=1,  # never reserve a job this worker has no free slot for
        task_acks_late=False,  # a lost worker's crawl is found by its lease, never redelivered blindly
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_ignore_result=True,
    )
    return celery


def job_sender(celery: Celery) -> Callable[[str], None]:
    def send(crawl_id: str) -> None:
        celery.send_task(TASK_NAME, args=[crawl_id], queue=QUEUE)
    return send
