"""Time the mirror reload: every customer's history loaded back from a state's source mirror.

    python bench/mirror_reload.py .bench/incremental-10k/state/state.db --repeat 5

The state is any state file a real (not dry) sync wrote, e.g. the incremental run's of
``bench/run.py``. Prints the records loaded and the median and best of ``--repeat`` passes
of ``Mirror.history`` over every customer, and of the record decoding alone (the mirror's
loaders over every stored document), in seconds and microseconds a record.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from saasync.mirror import LOADERS, Mirror
from saasync.state import StateStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", type=Path, help="a state file with a source mirror")
    parser.add_argument("--connection", default="b", help="the connection's name (default b)")
    parser.add_argument("--repeat", type=int, default=5, help="passes to time (default 5)")
    args = parser.parse_args()
    state = StateStore(args.state, read_only=True)
    mirror = Mirror(state, args.connection)
    customers = [key[1] for key in state.mirror_keys(args.connection) if key[0] == "customer"]
    docs = list(state.db.execute("SELECT kind, doc FROM source_records WHERE connection=?",
                                 (args.connection,)))
    loaders = [(LOADERS[kind], doc) for kind, doc in docs]

    def history() -> None:
        for customer in customers:
            mirror.history(customer)

    def decode() -> None:
        for loader, doc in loaders:
            loader.validate_json(doc)

    print(f"{len(customers):,} customers, {len(docs):,} records")
    for name, run in (("Mirror.history, every customer", history), ("decoding alone", decode)):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{name}: median {median:.3f} s, best {min(times):.3f} s, "
              f"{median / len(docs) * 1e6:.1f} µs a record")


if __name__ == "__main__":
    main()
