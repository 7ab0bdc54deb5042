"""The table bench/run.py prints: each figure beside its value before issue #18 and its target."""

from __future__ import annotations

from common import Figures

LIMIT = 40.0
Row = tuple[str, str, str, str, str]  # figure, before (main before #18), now, target, verdict

# Issue #18's "today" column: main before that issue, 2 cores, bench/generate.py data.
BEFORE = {
    ("dry", "100k"): "9.1× (1 process 16.7×)",
    ("dry", "1m"): "9.3× (1 process 15.8×)",
    ("store", "100k"): "43 s = 7.5× the dry run",
    "per_customer": "39.2 req/s = 98 % of the limit, 0 × 429",
    "bulk": "4 requests for 200 customers, 3.4× faster than per customer",
    "backfill": "per customer only: ≈ 198k requests, ≈ 84 min for 1M invoices",
    "sources": "one request at a time, paced at 20 req/s (Stripe)",
    "explain": "295 requests (one per customer)",
    "reconcile": "8 s on the sample, no progress shown",
}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def dry_rows(figures: Figures) -> list[Row]:
    out: list[Row] = []
    for s in figures["throughput"]:
        size = s["size"].lower()
        note = "" if s["report_ok"] else " (run report not ok/balanced)"
        value = (f"{s['seconds']:.2f} s = {s['ratio_to_floor']:.1f}× floor "
                 f"{s['floor_seconds']:.2f} s; 1 process "
                 f"{s['one_process_seconds'] / s['floor_seconds']:.1f}×"
                 f"{'' if s['same_counts'] else ', COUNTS DIFFER'}{note}")
        out.append((f"4 dry run {s['size']} ({s['invoices']:,} inv), 2 processes",
                    BEFORE.get(("dry", size), "-"), value, "≤ 5× floor",
                    verdict(s["ratio_to_floor"] <= 5 and s["report_ok"] and s["same_counts"])))
        out.append((f"4 peak memory {s['size']}", "-",
                    f"{s['peak_mb']:.0f} MB (input {s['input_mb']:.1f} MB)", "≤ 300 MB",
                    verdict(s["peak_mb"] <= 300)))
    if m := figures["memory"]:
        value = (f"input ×{m['input_growth']:.1f}, peak ×{m['peak_growth']:.2f} "
                 f"(Δpeak/Δinput {m['delta_peak_per_delta_input']:.3f})")
        out.append((f"  memory growth {m['from']} → {m['to']}", "-", value, "-", "info"))
    for s in figures["store"]:
        value = (f"{s['seconds']:.2f} s = {s['ratio_to_dry_run']:.2f}× the dry run "
                 f"({s['ratio_to_one_process_dry_run']:.2f}× its 1 process), {s['peak_mb']:.0f} MB")
        ok = s["ratio_to_dry_run"] <= 2 and s["report_ok"] and s["same_counts"]
        out.append((f"3 real sync into the local store {s['size']}",
                    BEFORE.get(("store", s["size"].lower()), "-"), value, "≤ 2× the dry run",
                    verdict(ok)))
    return out


def incremental_rows(inc: Figures) -> list[Row]:
    if not inc:
        return []
    first, quiet = inc["initial"], inc["nothing_new"]
    out: list[Row] = [(f"  incremental {inc['size']}: initial sync", "-",
                       f"{first['seconds']:.2f} s, read {first['read']:,}", "-", "info")]
    value = (f"{quiet['seconds']:.2f} s = {quiet['pct_of_initial']:.1f}% of initial, pushed "
             f"{quiet['pushed']}, db {'unchanged' if quiet['analytics_unchanged'] else 'CHANGED'}")
    out.append(("  incremental: nothing new", "-", value, "≤ 2%, nothing written",
                verdict(quiet["pct_of_initial"] <= 2 and quiet["pushed"] == 0
                        and quiet["analytics_unchanged"])))
    base = inc["file_touched"]
    for c in inc["changes"]:
        extra = c["read"] - base["read"]  # beyond what any re-read file gives (lookback)
        value = f"{c['seconds']:.2f} s, read {extra:+,} over k=0, pushed {c['pushed']:,}"
        out.append((f"  incremental: k={c['changed']} changed", "-", value,
                    "grows with k, not N",
                    verdict(c["changed"] <= extra <= 2 * c["k"] and c["pushed"] <= 2 * c["k"])))
    return out


def push_rows(figures: Figures) -> list[Row]:
    out: list[Row] = []
    for mode, p in figures["push"].items():
        used = p.get("import_mode", mode)
        name = mode if used == mode else f"{mode}→{used}"
        minimum = p["minimum_per_1000_invoices"]
        over = 100 * (p["requests_per_1000_invoices"] / minimum - 1)
        value = (f"{p['requests']:.0f} requests ({over:+.0f}% over the minimum), "
                 f"{p['seconds']:.1f} s, {p['requests_per_s']:.1f} req/s = "
                 f"{p['limit_used_pct']:.0f}% of {LIMIT:g}, {p['429_after_first_second']:.0f} × 429")
        ok = over <= 10 and p["429_after_first_second"] == 0
        if used != "bulk":
            ok = ok and p["limit_used_pct"] >= 90
        out.append((f"2 push {name}, {p['invoices'] // 12:,} customers", BEFORE.get(mode, "-"),
                     value, "≤ min + 10% requests, 0 × 429" + ("" if used == "bulk" else ", ≥ 90%"),
                     verdict(ok)))
    if b := figures["backfill"]:
        m = b["measured"]
        value = f"{m['import_mode']}: {m['requests']:.0f} requests, {m['seconds']:.0f} s"
        if "per_customer_seconds" in b:
            value += (f"; per customer ≈ {b['per_customer_requests']:,} requests, "
                      f"≈ {b['per_customer_seconds'] / 60:.1f} min: bulk {b['speed_up']:.1f}× faster")
        out.append((f"2 backfill {m['invoices']:,} invoices into serve", BEFORE["backfill"],
                    value, "bulk by default, faster than per customer",
                    verdict(m["import_mode"] == "bulk" and b.get("speed_up", 0) > 1)))
    return out


def source_rows(sources: Figures) -> list[Row]:
    out: list[Row] = []
    for name, f in sources.items():
        value = (f"{f['achieved_per_second']}/s of {f['limit_per_second']}/s = {f['ratio']:.0%}, "
                 f"{f['most_in_flight']} in flight, {f['throttled_429']} × 429, {f['records']:,} "
                 f"records {'equal to' if f['equal_to_sequential'] else 'DIFFER FROM'} one list")
        out.append((f"1 source read {name} ({f['latency_s']} s pages)",
                    BEFORE["sources"] if name == "stripe" else "one request at a time", value,
                    "≥ 85% of the limit, same records",
                    verdict(f["ratio"] >= 0.85 and bool(f["equal_to_sequential"]))))
    return out


def readback_rows(readback: Figures) -> list[Row]:
    out: list[Row] = []
    for row in readback.get("rows", []):
        where = f"{row['data']}, {row['latency_ms']} ms"
        explain = row["explain"]
        out.append((f"5 explain ID ({where})", BEFORE["explain"] if row["data"] == "sample"
                    else "-", f"{explain['requests']} requests, {explain['seconds']:.2f} s",
                    "a handful of requests", verdict(explain["requests"] <= 10)))
        for what, label in (("reconcile", "reconcile"), ("sync_dry_run", "dry run")):
            r = row[what]
            read = r.get("read_back") or r
            value = (f"{r['seconds']:.1f} s, {r['requests']} requests, read-back "
                     f"{read['share']:.0f}% of 40/s (whole command {r['share']:.0f}%), "
                     f"{r['throttled']} × 429 retried")
            before = BEFORE["reconcile"] if what == "reconcile" and row["data"] == "sample" else "-"
            out.append((f"5 {label} read-back ({where})", before, value,
                        "≥ 85% of the limit, progress bar", verdict(read["share"] >= 85)))
    return out


def rows(figures: Figures) -> list[Row]:
    out: list[Row] = [("  saasync start-up (--help)", "-",
                       f"{figures['startup_seconds']:.2f} s, inside every time below", "-",
                       "info")]
    return (out + dry_rows(figures) + incremental_rows(figures["incremental"])
            + push_rows(figures) + source_rows(figures["sources"])
            + readback_rows(figures["readback"]))


def table(table_rows: list[Row]) -> str:
    header: Row = ("figure", "before #18", "now", "target", "verdict")
    widths = [max(len(r[i]) for r in (header, *table_rows)) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in (header, *table_rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
