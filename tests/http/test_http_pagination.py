"""Paginators, each over several recorded-shape pages served by `responses`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from http_fakes import BASE, FakeClock, make_client
from responses import matchers

from saasync.errors import FatalError
from saasync.http import (
    CursorPaginator,
    HttpClient,
    NextLinkPaginator,
    OffsetTokenPaginator,
    PageNumberPaginator,
    RelayPaginator,
    StartPositionPaginator,
    key_path,
    paginate,
)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client() -> HttpClient:
    return make_client(FakeClock())


def page(rsps: responses.RequestsMock, path: str, query: dict[str, Any], body: Any) -> None:
    rsps.get(f"{BASE}{path}", json=body,
             match=[matchers.query_param_matcher({k: str(v) for k, v in query.items()})])


def test_chartmogul_cursor_stops_on_has_more_false_even_with_a_cursor(
        rsps: responses.RequestsMock, client: HttpClient) -> None:
    base = {"data_source_uuid": "ds_1", "per_page": 2}
    page(rsps, "/customers", base,
         {"entries": [1, 2], "cursor": "MjAyNC0x", "has_more": True, "current_page": 1})
    page(rsps, "/customers", {**base, "cursor": "MjAyNC0x"},
         {"entries": [3, 4], "cursor": "MjAyNC0y", "has_more": True})
    page(rsps, "/customers", {**base, "cursor": "MjAyNC0y"},
         {"entries": [5], "cursor": "MjAyNC0z", "has_more": False})
    items = paginate(client, "GET", "/customers", CursorPaginator(page_size=2),
                     {"data_source_uuid": "ds_1"}, extract=key_path("entries"))
    assert list(items) == [1, 2, 3, 4, 5]


def test_stripe_starting_after_last_id(rsps: responses.RequestsMock, client: HttpClient) -> None:
    base = {"limit": 2, "created[gte]": 1714521600}
    page(rsps, "/invoices", base,
         {"object": "list", "data": [{"id": "in_1"}, {"id": "in_2"}], "has_more": True})
    page(rsps, "/invoices", {**base, "starting_after": "in_2"},
         {"object": "list", "data": [{"id": "in_3"}, {"id": "in_4"}], "has_more": True})
    page(rsps, "/invoices", {**base, "starting_after": "in_4"},
         {"object": "list", "data": [{"id": "in_5"}], "has_more": False})
    items = paginate(client, "GET", "/invoices", CursorPaginator.starting_after(page_size=2),
                     {"created[gte]": 1714521600}, extract=key_path("data"))
    assert [i["id"] for i in items] == ["in_1", "in_2", "in_3", "in_4", "in_5"]


def test_chargebee_next_offset(rsps: responses.RequestsMock, client: HttpClient) -> None:
    base = {"limit": 2, "sort_by[asc]": "updated_at"}
    page(rsps, "/invoices", base,
         {"list": [{"invoice": {"id": "1"}}, {"invoice": {"id": "2"}}],
          "next_offset": '["1714521600000","2"]'})
    page(rsps, "/invoices", {**base, "offset": '["1714521600000","2"]'},
         {"list": [{"invoice": {"id": "3"}}, {"invoice": {"id": "4"}}], "next_offset": '["x","4"]'})
    page(rsps, "/invoices", {**base, "offset": '["x","4"]'}, {"list": [{"invoice": {"id": "5"}}]})
    items = paginate(client, "GET", "/invoices", OffsetTokenPaginator(page_size=2),
                     {"sort_by[asc]": "updated_at"},
                     extract=lambda p: [e["invoice"]["id"] for e in p["list"]])
    assert list(items) == ["1", "2", "3", "4", "5"]


def test_recurly_next_link(rsps: responses.RequestsMock, client: HttpClient) -> None:
    base = {"limit": 2, "sort": "updated_at", "order": "asc"}
    page(rsps, "/invoices", base, {"object": "list", "has_more": True, "data": ["a", "b"],
                                   "next": "/invoices?cursor=c1&limit=2&order=asc&sort=updated_at"})
    page(rsps, "/invoices", {**base, "cursor": "c2"}, {"object": "list", "has_more": False,
                                                     "data": ["e"], "next": None})
    page(rsps, "/invoices", {**base, "cursor": "c1"}, {"object": "list", "has_more": True,
                                                     "data": ["c", "d"],
                                   "next": "/invoices?cursor=c2&limit=2&order=asc&sort=updated_at"})
    items = paginate(client, "GET", "/invoices", NextLinkPaginator(), base,
                     extract=key_path("data"))
    assert list(items) == ["a", "b", "c", "d", "e"]


def test_xero_page_numbers_until_a_short_page(rsps: responses.RequestsMock,
                                              client: HttpClient) -> None:
    for n, ids in ((1, ["i1", "i2"]), (2, ["i3", "i4"]), (3, ["i5"])):
        page(rsps, "/Invoices", {"page": n, "pageSize": 2, "order": "UpdatedDateUTC ASC"},
             {"Invoices": [{"InvoiceID": i} for i in ids],
              "pagination": {"page": n, "pageSize": 2, "pageCount": 3, "itemCount": 5}})
    paginator = PageNumberPaginator(key_path("Invoices"), page_size=2)
    items = paginate(client, "GET", "/Invoices", paginator, {"order": "UpdatedDateUTC ASC"},
                     extract=key_path("Invoices"))
    assert [i["InvoiceID"] for i in items] == ["i1", "i2", "i3", "i4", "i5"]


def test_quickbooks_start_position_is_one_based(rsps: responses.RequestsMock,
                                                client: HttpClient) -> None:
    stmt = "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-05-01'"
    for start, ids in ((1, ["1", "2"]), (3, ["3", "4"])):
        page(rsps, "/query", {"query": f"{stmt} STARTPOSITION {start} MAXRESULTS 2",
                              "minorversion": 75},
             {"QueryResponse": {"Invoice": [{"Id": i} for i in ids], "startPosition": start,
                                "maxResults": 2}})
    # An exact multiple ends with a page that has no entity key at all.
    page(rsps, "/query", {"query": f"{stmt} STARTPOSITION 5 MAXRESULTS 2", "minorversion": 75},
         {"QueryResponse": {}, "time": "2024-05-01T00:00:00.000-07:00"})
    items_at = key_path("QueryResponse", "Invoice")
    items = paginate(client, "GET", "/query", StartPositionPaginator(stmt, items_at, page_size=2),
                     {"minorversion": 75}, extract=items_at)
    assert [i["Id"] for i in items] == ["1", "2", "3", "4"]


def test_relay_graphql_variables_in_the_body(rsps: responses.RequestsMock,
                                             client: HttpClient) -> None:
    query = "query($first:Int,$after:String){invoices(first:$first,after:$after){nodes{id} pageInfo{hasNextPage endCursor}}}"
    pages = [({"first": 2}, ["a", "b"], True, "c1"),
             ({"first": 2, "after": "c1"}, ["c", "d"], True, "c2"),
             ({"first": 2, "after": "c2"}, ["e"], False, "c3")]
    for variables, ids, more, end in pages:
        rsps.post(f"{BASE}/graphql",
                  match=[matchers.json_params_matcher({"query": query, "variables": variables})],
                  json={"data": {"invoices": {"nodes": [{"id": i} for i in ids],
                                              "pageInfo": {"hasNextPage": more,
                                                           "endCursor": end}}}})
    items = paginate(client, "POST", "/graphql", RelayPaginator(("data", "invoices"), page_size=2),
                     extract=key_path("data", "invoices", "nodes"),
                     json_body=lambda v: {"query": query, "variables": v})
    assert [n["id"] for n in items] == ["a", "b", "c", "d", "e"]


def test_repeated_cursor_stops_instead_of_looping(rsps: responses.RequestsMock,
                                                  client: HttpClient) -> None:
    page(rsps, "/customers", {}, {"entries": [1], "cursor": "same", "has_more": True})
    page(rsps, "/customers", {"cursor": "same"}, {"entries": [2], "cursor": "same",
                                                  "has_more": True})
    with pytest.raises(FatalError, match="repeated page token"):
        list(paginate(client, "GET", "/customers", CursorPaginator(), extract=key_path("entries")))


def test_has_more_without_a_cursor_is_fatal() -> None:
    paginator = CursorPaginator()
    paginator.first_params()
    with pytest.raises(FatalError, match="gave no token"):
        paginator.next_params({"entries": [], "has_more": True, "cursor": None})


def test_first_params_resets_state() -> None:
    paginator = PageNumberPaginator(key_path("x"), page_size=1, size_param=None)
    assert paginator.first_params() == {"page": 1}
    assert paginator.next_params({"x": [1]}) == {"page": 2}
    assert paginator.first_params() == {"page": 1}
    cursor = CursorPaginator()
    cursor.first_params()
    assert cursor.next_params({"has_more": True, "cursor": "a"}) == {"cursor": "a"}
    cursor.first_params()
    assert cursor.next_params({"has_more": True, "cursor": "a"}) == {"cursor": "a"}
