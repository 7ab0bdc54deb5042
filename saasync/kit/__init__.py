"""The connector kit: what every connector is assembled from.

``records``: the one bad-record type (:class:`MappingError`) and the one review-queue
helper (:func:`quarantine`). ``api``: what an API source declares (:class:`ApiSpec`: base
URL, auth, classifier, headers, timeouts, pace, retry policy) and the one function that
assembles its client (:func:`api_client`). ``intset``: :class:`IntSet`, a set of 64-bit
ints at 8 to 16 bytes an entry, for the hashes of every id a read has seen. Options models
(:class:`ConnectorOptions`) live in :mod:`saasync.connector_options`.
"""
