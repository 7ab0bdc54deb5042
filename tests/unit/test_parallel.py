"""Partitioned dry runs: the partition function, the report merge, the process runner."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from saasync.connector import partition_of
from saasync.errors import ConfigError, SaasyncError
from saasync.parallel import can_fork, fork_refusal, run_partitioned
from saasync.run_report import DETAIL_CAP, Op, RunReport
from saasync_connectors.files.formats import quick_text

needs_fork = pytest.mark.skipif(not can_fork(), reason="forking is not available here")


def test_partition_of_is_stable_and_spreads_customers() -> None:
    assert partition_of("cus_1", 2) == partition_of("cus_1", 2)  # same in every process
    assert partition_of("anything", 1) == 0
    shares = [0, 0, 0]
    for n in range(3000):
        shares[partition_of(f"cus_{n:07d}", 3)] += 1
    assert min(shares) > 900  # an even split, give or take


@pytest.mark.parametrize(("line", "key", "expected"), [
    (b'{"external_id":"inv_1","customer_external_id": " cus 1 "}', b"customer_external_id", "cus 1"),
    (b'{"external_id":"inv_1","customer_external_id":"c"}', b"external_id", "inv_1"),
    (b'{"external_id":"inv_1","lines":[{"external_id":"l1"}]}', b"external_id", None),  # twice
    (b'{"external_id":"in\\"v"}', b"external_id", None),  # an escape: decode to be sure
    (b'{"external_id":12}', b"external_id", None),  # not a string
    (b'{"customer\\u005fexternal_id":"c"}', b"customer_external_id", None),  # escaped key
    (b'{"external_id":"caf\xc3\xa9"}', b"external_id", "café"),
    (b'{"external_id":"x"', b"customer_external_id", None),  # absent
])
def test_quick_text_reads_a_plain_value_or_says_it_cannot(line: bytes, key: bytes,
                                                          expected: str | None) -> None:
    assert quick_text(line, key, "utf-8") == expected


def _report(*records: tuple[str, str, str, str | None], ops: tuple[Op, ...] = ()) -> RunReport:
    report = RunReport("c", "sync", True)
    for kind, ext, outcome, reason in records:
        report.set(kind, ext, outcome, reason)  # type: ignore[arg-type]
    for op in ops:
        report.add_op(op)
    report.seal()
    return report


def test_merge_adds_counts_and_counts_a_plan_change_once() -> None:
    plan_op = Op("plan", "gold", "create")
    first = _report(("plan", "gold", "pushed", None), ("invoice", "i1", "pushed", None),
                    ops=(plan_op, Op("invoice", "i1", "create", "c1")))
    second = _report(("invoice", "i2", "skipped", "DRAFT"), ("invoice", "i3", "quarantined", "INVALID_RECORD"),
                     ops=(plan_op, Op("invoice", "i4", "create", "c0")))
    second.re_evaluated_ops = 1  # the plan, not read by this partition
    first.merge(second)
    counts = first.counts()
    assert counts["read"] == 4 and counts["balanced"]
    assert counts["skipped"] == {"DRAFT": 1} and counts["quarantined"] == {"INVALID_RECORD": 1}
    assert first.changes()["created"] == 3 and first.ops_total == 3
    assert first.re_evaluated_ops == 0
    assert [(op.kind, op.external_id) for op in first.ops] == [
        ("plan", "gold"), ("invoice", "i4"), ("invoice", "i1")]  # plans, then by customer


def test_merge_keeps_lists_under_the_cap_and_every_quarantine() -> None:
    big = _report(*[("invoice", f"a{n}", "pushed", None) for n in range(DETAIL_CAP)])
    other = _report(("invoice", "b", "pushed", None), ("invoice", "q", "quarantined", "INVALID_RECORD"))
    big.merge(other)
    listed = big.as_dict()
    assert listed["counts"]["read"] == DETAIL_CAP + 2
    assert [q["external_id"] for q in listed["quarantined_records"]] == ["q"]
    assert listed["truncated"]["records_listed"] == DETAIL_CAP + 1


def test_merge_takes_the_worst_status() -> None:
    ok, stopped = _report(), _report()
    stopped.status = "stopped"
    ok.merge(stopped)
    assert ok.status == "stopped"


def _counting(index: int, count: int, progress, should_stop) -> RunReport:  # type: ignore[no-untyped-def]
    progress("building", index + 1, count)
    return _report(("customer", f"c{index}", "pushed", None))


@needs_fork
def test_run_partitioned_adds_the_partitions_reports() -> None:
    seen: list[tuple[str, int, int | None]] = []
    report = run_partitioned(3, _counting, progress=lambda *args: seen.append(args))
    assert report.counts()["read"] == 3
    assert {r.external_id for r in report._records()} == {"c0", "c1", "c2"}
    assert report.duration_s > 0
    assert seen[-1] == ("building", 1 + 2 + 3, 3 * 3)  # progress adds up every partition's


def _fails(index: int, count: int, progress, should_stop) -> RunReport:  # type: ignore[no-untyped-def]
    if index == 1:
        raise ConfigError("connections.x.options.path: no such directory")
    return _report()


@needs_fork
def test_a_failing_partition_fails_the_run_with_its_error() -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        run_partitioned(2, _fails)


def _dies(index: int, count: int, progress, should_stop) -> RunReport:  # type: ignore[no-untyped-def]
    if index == 0:
        sys.stdout.flush()
        os._exit(9)  # killed: no report, no exception
    return _report()


@needs_fork
def test_a_partition_that_dies_is_reported_with_its_exit_code() -> None:
    with pytest.raises(SaasyncError, match="partition 0 ended without a report .*exit code 9"):
        run_partitioned(2, _dies)


class _Unpicklable(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def _odd_error(index: int, count: int, progress, should_stop) -> RunReport:  # type: ignore[no-untyped-def]
    raise _Unpicklable("x", "y")


@needs_fork
def test_an_error_that_cannot_travel_arrives_as_its_type_and_message() -> None:
    with pytest.raises(SaasyncError, match="_Unpicklable: x/y"):
        run_partitioned(2, _odd_error)


@needs_fork
def test_a_process_running_another_thread_may_not_fork() -> None:
    done = threading.Event()
    other = threading.Thread(target=done.wait, name="pool-worker-1", daemon=True)
    other.start()
    try:
        assert fork_refusal() == "other threads are running in this process (pool-worker-1)"
        assert not can_fork()
    finally:
        done.set()
        other.join()
    assert fork_refusal() is None and can_fork()
