"""The emulated API over real HTTP: auth, resources, paging, imports, statuses, metrics."""

from __future__ import annotations

import requests

from saasync.server.app import ServerHandle
from tests.server.conftest import KEY, Api, monthly_invoice

DUPLICATE_INVOICE = "The external ID for this invoice already exists in our system."


def test_a_missing_or_wrong_api_key_is_a_401_like_chartmogul_s(server: ServerHandle) -> None:
    expected = {"code": 401, "message": "No valid API key provided", "param": None}
    for auth in (None, ("wrong", ""), ("", KEY)):
        response = requests.get(server.url + "/ping", auth=auth, timeout=5)
        assert (response.status_code, response.json()) == (401, expected)
    bearer = requests.get(server.url + "/ping", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401
    # The key is the user name; any password goes (ChartMogul: empty, or the key again).
    for password in ("", KEY, "anything"):
        answer = requests.get(server.url + "/ping", auth=(KEY, password), timeout=5)
        assert answer.json() == {"data": "pong!"}


def test_data_sources_validate_names_and_answer_404_the_legacy_way(api: Api) -> None:
    assert api.ok("POST", "/data_sources", {"name": None}, 422) == {
        "errors": {"name": "A name is required for each data source."}
    }
    ds = api.data_source("billing")
    assert api.ok("POST", "/data_sources", {"name": "billing"}, 422) == {
        "errors": {"name": "Has already been taken."}
    }
    listed = api.ok("GET", "/data_sources", params={"with_invoice_handling_setting": "true"})
    [only] = listed["data_sources"]
    assert (
        only["uuid"] == ds
        and only["invoice_handling_setting"]["manual"]["prevent_subscription_for_invoice_voided"]
    )
    assert api.ok("DELETE", "/data_sources/ds_nope", status=404) == {
        "error": "Data source not found"
    }
    customer = api.customer(ds)
    api.ok("DELETE", f"/data_sources/{ds}", status=204)
    assert api.ok("GET", f"/customers/{customer}", status=404) == {"error": "Customer not found"}


def test_customers_page_by_cursor_until_has_more_is_false(api: Api) -> None:
    ds, other = api.data_source("a"), api.data_source("b")
    made = [api.customer(ds, f"c{i}") for i in range(5)]
    api.customer(other, "c0")  # the same external id in another source is fine
    seen, cursor, pages = [], None, 0
    while True:
        params = {"data_source_uuid": ds, "per_page": 2, **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", "/customers", params=params)
        seen += [c["uuid"] for c in page["entries"]]
        pages += 1
        assert page["per_page"] == 2 and page["total_pages"] == 3
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert (seen, pages) == (made, 3)
    assert page["cursor"] is not None  # set on the last page too: stop on has_more
    after_last = api.ok(
        "GET", "/customers", params={"data_source_uuid": ds, "cursor": page["cursor"]}
    )
    assert (after_last["entries"], after_last["has_more"]) == ([], False)
    both = api.ok("GET", "/customers", params={"external_id": "c0"})["entries"]
    assert {c["data_source_uuid"] for c in both} == {ds, other}
    none = api.ok("GET", "/customers", params={"external_id": "nobody", "data_source_uuid": ds})
    assert (none["entries"], none["has_more"]) == ([], False)
    assert api.ok("GET", "/customers", params={"per_page": 500})["per_page"] == 200


def test_bad_cursors_and_the_deprecated_page_parameter_are_400(api: Api) -> None:
    ds = api.data_source()
    plan_cursor = api.ok("GET", "/plans", params={"per_page": 1})["cursor"]
    assert plan_cursor is None
    api.plan(ds)
    plan_cursor = api.ok("GET", "/plans", params={"per_page": 1})["cursor"]
    for params in ({"cursor": "bm9wZQ=="}, {"cursor": plan_cursor}, {"page": 2}, {"per_page": 0}):
        body = api.ok("GET", "/customers", params=params, status=400)
        assert body["code"] == 400 and body["param"] in ("cursor", "page", "per_page")


def test_customers_duplicate_update_search_and_delete(api: Api) -> None:
    ds = api.data_source()
    uuid = api.customer(ds, "acct-1", email="ap@example.com", city="Utrecht",
                        attributes={"tags": ["smb"], "custom": [{"type": "String", "key": "seg",
                                                                  "value": "SMB"}]})  # fmt: skip
    assert api.ok("POST", "/customers", {"data_source_uuid": ds, "external_id": "acct-1"}, 422) == {
        "errors": {"external_id": "The external ID for this customer already exists in our system."}
    }
    assert "data_source_uuid" in api.ok("POST", "/customers", {"external_id": "x"}, 422)["errors"]
    patched = api.ok("PATCH", f"/customers/{uuid}", {
        "name": "Northwind", "attributes": {"custom": {"tier": "gold"}}, "status": "Working Lead",
        "external_id": "ignored", "data_source_uuid": "ignored"})  # fmt: skip
    assert patched["name"] == "Northwind" and patched["external_id"] == "acct-1"
    assert patched["attributes"]["custom"] == {"seg": "SMB", "tier": "gold"}
    assert patched["attributes"]["tags"] == ["smb"] and patched["city"] == "Utrecht"
    assert patched["status"] == "Working Lead" and patched["customer-since"] is None
    found = api.ok("GET", "/customers/search", params={"email": "AP@example.com"})
    assert [c["uuid"] for c in found["entries"]] == [uuid]
    assert api.ok("GET", "/customers/search", params={"email": "no@x.com"}, status=404) == {
        "code": 404,
        "message": 'Can\'t find any customers with email: "no@x.com"',
        "param": "email",
    }
    api.ok("DELETE", f"/customers/{uuid}", status=204)
    api.ok("DELETE", f"/customers/{uuid}", status=404)


def test_plans_are_created_updated_with_202_and_protected_while_in_use(api: Api) -> None:
    ds = api.data_source()
    made = api.ok("POST", "/plans", {"data_source_uuid": ds, "name": "Team", "interval_count": 3,
                                     "interval_unit": "month"}, 201)  # fmt: skip
    assert made["external_id"]  # generated when not sent
    bad = api.ok("POST", "/plans", {"data_source_uuid": ds, "interval_unit": "fortnight"}, 422)
    assert set(bad["errors"]) == {"name", "interval_count", "interval_unit"}
    dup = {
        "data_source_uuid": ds,
        "name": "T",
        "interval_count": 1,
        "interval_unit": "month",
        "external_id": made["external_id"],
    }
    assert api.ok("POST", "/plans", dup, 422) == {
        "errors": {"external_id": "A plan with this identifier already exists in our system."}
    }
    updated = api.ok("PATCH", f"/plans/{made['uuid']}", {"name": "Team (q)"}, 202)
    assert (updated["name"], updated["interval_count"]) == ("Team (q)", 3)
    listed = api.ok("GET", "/plans", params={"external_id": made["external_id"]})["plans"]
    assert [p["uuid"] for p in listed] == [made["uuid"]]
    customer = api.customer(ds)
    api.invoice(customer, monthly_invoice("i1", made["uuid"], "2024-01-01", "2024-04-01"))
    api.ok("DELETE", f"/plans/{made['uuid']}", status=422)
    spare = api.plan(ds, "spare")
    api.ok("DELETE", f"/plans/{spare}", status=204)
    api.ok("GET", f"/plans/{spare}", status=404)


def test_invoice_import_answers_per_invoice_and_refuses_duplicates(api: Api) -> None:
    ds = api.data_source()
    plan = api.plan(ds)
    customer = api.customer(ds)
    good = monthly_invoice("INV-1", plan, "2024-01-01", "2024-02-01")
    no_currency = {**monthly_invoice("INV-2", plan, "2024-01-01", "2024-02-01"), "currency": None}
    unknown_plan = monthly_invoice("INV-3", "pl_unknown", "2024-01-01", "2024-02-01")
    answer = api.invoice(customer, good, no_currency, unknown_plan, status=422)["invoices"]
    assert answer[0]["uuid"].startswith("inv_") and answer[0]["errors"] == {}
    assert answer[1] == {**answer[1], "uuid": None, "external_id": "INV-2",
                         "errors": {"currency": "can't be blank"}}  # fmt: skip
    assert answer[2]["errors"] == {"line_items.plan_uuid": "Plan not found"}
    again = api.invoice(customer, good, status=422)["invoices"]
    assert again[0]["errors"] == {"external_id": DUPLICATE_INVOICE}
    stored = api.ok("GET", f"/import/customers/{customer}/invoices")
    assert [i["external_id"] for i in stored["invoices"]] == ["INV-1"]
    assert stored["customer_uuid"] == customer
    line_dup = monthly_invoice("INV-4", plan, "2024-02-01", "2024-03-01")
    line_dup["line_items"][0]["external_id"] = "L1"
    api.invoice(customer, line_dup)
    line_dup["external_id"] = "INV-5"
    assert api.invoice(customer, line_dup, status=422)["invoices"][0]["errors"] == {
        "line_items.external_id": "The external ID for this line item already exists in our system."
    }
    assert api.ok("POST", f"/import/customers/{customer}/invoices", {"invoices": []}, 422)


def test_invoices_keep_api_fields_list_by_filter_and_delete(api: Api) -> None:
    ds = api.data_source()
    plan = api.plan(ds)
    customer = api.customer(ds)
    invoice = monthly_invoice("INV-1", plan, "2024-01-01", "2024-02-01", paid=False,
                              collection_method="automatic", due_date="2024-01-15")  # fmt: skip
    invoice["line_items"][0].update(discount_code="LAUNCH", subscription_set_external_id="set-1",
                                    tax_amount_in_cents=1000, quantity=5)  # fmt: skip
    invoice["line_items"].append(
        {"type": "one_time", "amount_in_cents": 500, "description": "Setup"}
    )
    [made] = api.invoice(customer, invoice)["invoices"]
    got = api.ok("GET", f"/invoices/{made['uuid']}")
    assert got["customer_uuid"] == customer and got["status"] == "open"
    assert got["collection_method"] == "automatic" and got["due_date"] == "2024-01-15T00:00:00.000Z"
    sub_line, one_time = got["line_items"]
    assert (sub_line["discount_code"], sub_line["subscription_set_external_id"]) == (
        "LAUNCH",
        "set-1",
    )
    assert (one_time["type"], one_time["description"], one_time["discount_code"]) == (
        "one_time",
        "Setup",
        "",
    )
    subs = api.ok("GET", f"/import/customers/{customer}/subscriptions")["subscriptions"]
    assert subs[0]["subscription_set_external_id"] == "set-1"
    by_ext = api.ok("GET", "/invoices", params={"data_source_uuid": ds, "external_id": "INV-1"})
    assert [i["uuid"] for i in by_ext["invoices"]] == [made["uuid"]]
    assert api.ok("GET", "/invoices", params={"customer_uuid": "cus_other"})["invoices"] == []
    paid = api.ok("POST", f"/import/invoices/{made['uuid']}/transactions",
                  {"type": "payment", "result": "successful", "date": "2024-01-10",
                   "external_id": "pay-1", "amount_in_cents": 9500}, 201)  # fmt: skip
    assert paid["uuid"].startswith("tr_") and paid["date"] == "2024-01-10T00:00:00.000Z"
    assert api.ok("GET", f"/invoices/{made['uuid']}")["status"] == "paid"
    again = {"type": "refund", "result": "successful", "date": "2024-01-11", "external_id": "pay-1"}
    assert api.ok("POST", f"/import/invoices/{made['uuid']}/transactions", again, 422) == {
        "errors": {"external_id": "has already been taken"}
    }
    api.ok("DELETE", f"/invoices/{made['uuid']}", status=204)
    api.ok("GET", f"/invoices/{made['uuid']}", status=404)
    assert api.ok("GET", f"/import/customers/{customer}/subscriptions")["subscriptions"] == []


def test_voiding_through_the_status_endpoint_removes_the_mrr(api: Api) -> None:
    ds = api.data_source()
    plan = api.plan(ds)
    customer = api.customer(ds)
    api.invoice(customer, monthly_invoice("INV-1", plan, "2024-06-01", "2024-07-01", amount=4900))
    assert api.ok("GET", f"/customers/{customer}")["mrr"] == 4900
    path = f"/data_sources/{ds}/invoices/INV-1/status"
    answer = api.ok("PUT", path, {"status": "voided"})
    assert answer["message"] == "Invoice updated" and answer["invoice"]["status"] == "voided"
    after = api.ok("GET", f"/customers/{customer}")
    assert (after["mrr"], after["status"]) == (0, "New Lead")
    mrr = api.ok(
        "GET", "/metrics/mrr", params={"start-date": "2024-06-01", "end-date": "2024-06-15"}
    )
    assert mrr["entries"][-1]["mrr"] == 0
    assert api.ok("GET", f"/customers/{customer}/subscriptions")["entries"] == []
    assert api.ok("PUT", path, {"status": "written_off"})["invoice"]["status"] == "written_off"
    assert api.ok("PUT", path, {"status": "paid"}, 422)["errors"] == {
        "status": "is not included in the list"
    }
    assert api.ok("PUT", f"/data_sources/{ds}/invoices/NOPE/status", {"status": "voided"}, 404) == {
        "error": "Invoice not found"
    }


def test_cancellation_dates_are_appended_replaced_and_cleared(api: Api) -> None:
    ds = api.data_source()
    plan = api.plan(ds)
    customer = api.customer(ds)
    api.invoice(
        customer,
        monthly_invoice("INV-1", plan, "2024-05-01", "2024-06-01", amount=3000),
        monthly_invoice("INV-2", plan, "2024-06-01", "2024-07-01", amount=3000),
    )
    [sub] = api.ok("GET", f"/import/customers/{customer}/subscriptions")["subscriptions"]
    path = f"/import/subscriptions/{sub['uuid']}"
    cancelled = api.ok("PATCH", path, {"cancelled_at": "2024-06-10 00:00:00 +0200"}, 202)
    assert cancelled["cancellation_dates"] == ["2024-06-09T22:00:00.000Z"]
    assert cancelled["customer_uuid"] == customer
    doc = api.ok("GET", f"/customers/{customer}")
    assert (doc["status"], doc["mrr"]) == ("Cancelled", 0)
    [entry] = api.ok("GET", f"/customers/{customer}/subscriptions")["entries"]
    assert (entry["status"], entry["mrr"], entry["end-date"]) == (
        "inactive",
        3000,
        "2024-06-09T22:00:00+00:00",
    )  # keeps the MRR it had
    both = api.ok("PATCH", path, {"cancelled_at": "2024-05-20"}, 202)["cancellation_dates"]
    assert both == ["2024-05-20T00:00:00.000Z", "2024-06-09T22:00:00.000Z"]
    replaced = api.ok("PATCH", path, {"cancellation_dates": ["2024-06-01"]}, 202)
    assert replaced["cancellation_dates"] == ["2024-06-01T00:00:00.000Z"]
    cleared = api.ok("PATCH", path, {"cancellation_dates": []}, 202)
    assert cleared["cancellation_dates"] == []
    assert api.ok("GET", f"/customers/{customer}")["status"] == "Active"
    future = api.ok("PATCH", path, {"cancelled_at": "2030-01-01"}, 422)
    assert future == {"errors": {"cancelled_at": "must be in the past"}}
    assert (
        "cancellation_dates"
        in api.ok("PATCH", path, {"cancellation_dates": ["soon"]}, 422)["errors"]
    )
    api.ok("PATCH", "/import/subscriptions/sub_nope", {"cancellation_dates": []}, 404)


def test_unknown_routes_and_bodies_that_are_not_json(api: Api) -> None:
    assert "error" in api.ok("GET", "/subscription_events", status=404)
    response = api.request("POST", "/data_sources", data=b"{not json",
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and response.json()["code"] == 400
    assert api.ok("GET", "/account")["currency"] == "USD"
