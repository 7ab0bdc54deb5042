"""Log lines from several processes sharing one stderr stay whole lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Forked children inherit the parent's logging setup and stderr, as the partitions of a
# parallel dry run do (saasync/parallel.py); each logs many lines at once.
SCRIPT = textwrap.dedent("""
    import os
    import structlog
    from saasync.logs import configure_logging

    configure_logging(json_logs=True)
    children = []
    for index in range({processes}):
        pid = os.fork()
        if pid == 0:
            log = structlog.get_logger("child")
            for line in range({lines}):
                log.info("partition finished", child=index, line=line, padding="x" * 200)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
""")


def test_lines_from_many_processes_on_one_pipe_each_parse_as_json() -> None:
    processes, lines = 6, 400
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(processes=processes, lines=lines)],
                          capture_output=True, text=True, timeout=120, check=True)
    written = proc.stderr.splitlines()
    events = [json.loads(line) for line in written]  # a glued line does not parse
    assert len(events) == processes * lines
    assert {(e["child"], e["line"]) for e in events} == {
        (child, line) for child in range(processes) for line in range(lines)}
