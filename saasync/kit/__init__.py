"""The connector kit: what every API connector is assembled from.

``records``: the one bad-record type (:class:`MappingError`) and the one review-queue
helper (:func:`quarantine`). ``api``: :class:`ApiSource`, the base where a connector
declares its base URL, auth, classifier and pacing and the kit builds the HTTP client,
retry policy and rate limiter. Options models live in :mod:`saasync.connector_options`.
"""
