"""A threaded HTTP server whose close also closes the connections it still serves.

``ThreadingHTTPServer`` serves each connection in a thread of its own, and with HTTP/1.1
keep-alive that thread waits for the client's next request until the client hangs up.
Its ``server_close`` stops listening but leaves those threads waiting. Here, closing the
server shuts down every connection still open (a handler waiting for a request sees the
end of its stream and returns) and waits for their threads: once stopped, the server
leaves no thread behind in the process (which matters to a process that forks next:
``saasync.parallel.fork_refusal``).
"""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

CLOSE_JOIN_S = 5.0  # how long a close waits for a connection's thread to end


class ClosingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: dict[Any, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            still = list(self._open.items())
        for request, _ in still:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:  # the client hung up meanwhile
                pass
        for _, thread in still:
            thread.join(CLOSE_JOIN_S)
