"""The connector kit: what every connector is assembled from.

``records``: the one bad-record type (:class:`MappingError`) and the one review-queue
helper (:func:`quarantine`). Options models (:class:`ConnectorOptions`) live in
:mod:`saasync.connector_options`.
"""
