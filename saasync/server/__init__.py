"""``saasync serve``: a ChartMogul-compatible HTTP API (v1) on the embedded local store.

Tests, dry-run rehearsals and benchmarks talk real HTTP to it instead of a ChartMogul
account: the same paths, status codes, bodies and error shapes (docs/chartmogul.md lists
them endpoint by endpoint; checked against the recorded traffic in
``tests/server/test_recordings.py``), with ChartMogul's throttling and injectable faults.
``app.make_server`` starts one (``faults.FaultConfig``, ``context.Account`` configure it):

    with make_server("store.db", faults=FaultConfig(p_5xx=0.1, seed=1)) as server:
        requests.get(server.url + "/ping", auth=("test-key", ""))

Endpoints (all under ``/v1``):
  ping, account; data_sources (POST, GET, GET/DELETE {uuid}, DELETE {uuid}/all);
  customers (POST, GET ?data_source_uuid&external_id, GET search?email, GET/PATCH/DELETE
  {uuid}); plans (POST, GET ?data_source_uuid&external_id, GET/PATCH/DELETE {uuid});
  import/customers/{uuid}/invoices (POST, GET); invoices (GET ?customer_uuid&
  data_source_uuid&external_id, GET/DELETE {uuid}); data_sources/{ds}/invoices/{external_id}/
  status (PUT voided|written_off); data_sources/{ds}/customers/{uuid}/invoices (DELETE);
  import/invoices/{uuid}/transactions (POST); import/customers/{uuid}/subscriptions (GET);
  import/subscriptions/{uuid} (PATCH cancelled_at | cancellation_dates);
  customers/{uuid}/subscriptions (GET, metrics view); data_sources/{uuid}/json_imports
  (POST, GET {id}); metrics/{all, mrr, customer-count, arr, arpa, asp, ltv,
  customer-churn-rate, mrr-churn-rate}. Lists page by opaque ``cursor`` with ``has_more``
  and ``per_page`` (default and maximum 200). Not emulated: merges, connect/disconnect
  subscriptions, customer attribute endpoints, subscription events, line-item endpoints.

Where ChartMogul's behaviour is unconfirmed the choice made is documented where it is
implemented: invoice import (``routes_invoices``), bulk import (``routes_imports``),
metrics (``analytics``, ``routes_metrics``), limits and faults (``limits``, ``faults``).
"""
