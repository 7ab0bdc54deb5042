"""Scale-out on Celery with Redis: one task per connection run, locks and rate limits shared.

- ``app``: the Celery app factory (broker, late acks, the beat schedule from the config);
- ``tasks``: ``saasync.sync_connection(name)`` under a per-connection Redis lock;
- ``ratelimit``: a sliding-window limiter in Redis, one budget per destination account;
- ``command``: ``saasync celery worker`` and ``saasync celery beat``.

Celery and redis are an optional extra: nothing here is imported by the core.
"""
