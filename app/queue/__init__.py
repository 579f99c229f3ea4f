"""Queued batch ingest across machines: Celery over RabbitMQ, with every job recorded in the store.

``broker`` reads and checks the broker URL, ``celery_app`` builds the Celery application (late acknowledgement),
``jobs`` keeps the job rows that ``reidwatch queue`` shows, ``enqueue`` queues files, ``tasks`` runs one job in a
worker, and ``worker`` starts one.
"""
