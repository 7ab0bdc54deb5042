"""Fault injection: the failures a client of ChartMogul must survive, on demand and repeatable.

Each admitted request (authenticated, within the limits) draws the same number of values
from one seeded ``random.Random``, so a seed and a request order give the same faults
every run, whatever the probabilities. Faults, in order of precedence:

- **drop** (``p_drop``): the connection is closed without any response, before the
  request is handled (the client sees a connection error; nothing was written);
- **429** (``p_429``): ``{"code":429,…}``; a share ``retry_after_share`` of them carries
  ``Retry-After: 1``, the others none (ChartMogul has never been seen to send one);
- **5xx** (``p_5xx``): 500, 502 or 503 (``codes_5xx``) with ChartMogul's text/plain
  bodies, before the request is handled;
- **slow** (``p_slow``): the answer (whatever it is) comes ``slow_ms`` later;
- **5xx after commit** (``p_5xx_after_commit``): a write (POST, PUT, PATCH, DELETE) is
  applied, then answered with a 500. A client that retries it must cope with "already
  exists" or an already-applied change: this is what proves a client idempotent.

Drops, 429s and 5xx happen before any state changes, so retrying those is always safe.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, replace

from saasync.server.wire import ApiResponse, coded

#: ChartMogul's bodies (the 500 and 504 ones as recorded, §1.5).
FAULT_TEXTS = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout Error",
}


@dataclass(frozen=True)
class FaultConfig:
    p_429: float = 0.0
    retry_after_share: float = 0.0
    p_5xx: float = 0.0
    codes_5xx: tuple[int, ...] = (500, 502, 503)
    p_drop: float = 0.0
    p_slow: float = 0.0
    slow_ms: int = 1000
    p_5xx_after_commit: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("p_429", "retry_after_share", "p_5xx", "p_drop", "p_slow",
                     "p_5xx_after_commit"):  # fmt: skip
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        if not self.codes_5xx or any(c not in FAULT_TEXTS for c in self.codes_5xx):
            raise ValueError(f"codes_5xx must be among {sorted(FAULT_TEXTS)}")
        if self.slow_ms < 0:
            raise ValueError("slow_ms must be >= 0")

    @property
    def enabled(self) -> bool:
        return any((self.p_429, self.p_5xx, self.p_drop, self.p_slow, self.p_5xx_after_commit))


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request. At most one of drop / status is set."""

    drop: bool = False
    status: int | None = None  # 429 or a 5xx answered instead of handling the request
    retry_after: bool = False
    delay_s: float = 0.0
    fail_after_commit: bool = False

    def response(self) -> ApiResponse:
        assert self.status is not None
        if self.status == 429:
            headers = {"Retry-After": "1"} if self.retry_after else {}
            return coded(429, "Your request rate has exceeded our rate limit.", headers)
        return ApiResponse(self.status, text=FAULT_TEXTS[self.status])


NO_FAULT = FaultDecision()


class FaultInjector:
    """Thread-safe; seven draws per decision so the sequence depends on the seed only."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()  # drop, 429, 500…, slow, after_commit

    def record(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def decide(self) -> FaultDecision:
        c = self.config
        if not c.enabled:
            return NO_FAULT
        with self._lock:
            drop, r429, share, r5xx, code, slow, after = [self._random.random() for _ in range(7)]
        decision = FaultDecision(
            delay_s=c.slow_ms / 1000 if slow < c.p_slow else 0.0,
            fail_after_commit=after < c.p_5xx_after_commit,
        )
        if drop < c.p_drop:
            decision = replace(decision, drop=True, fail_after_commit=False)
        elif r429 < c.p_429:
            decision = replace(decision, status=429, retry_after=share < c.retry_after_share,
                               fail_after_commit=False)  # fmt: skip
        elif r5xx < c.p_5xx:
            status = c.codes_5xx[min(int(code * len(c.codes_5xx)), len(c.codes_5xx) - 1)]
            decision = replace(decision, status=status, fail_after_commit=False)
        for kind, happened in (("slow", decision.delay_s > 0), ("drop", decision.drop),
                               (str(decision.status), decision.status is not None)):  # fmt: skip
            if happened:
                self.record(kind)
        return decision
