"""Token buckets: how many requests a tenant or a credential may make, and how many wrong
secrets a token prefix may be tried with (each one costs an argon2 verification).

Per process: with N workers a client may reach N times the rate, which is what the defaults
(`definewtf.settings.RateLimits`) are sized for. Kept in memory, bounded in keys, and never a
database write on the request path.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Hashable

from definewtf.errors import RateLimited


class TokenBuckets:
    """`rate` tokens per second refill each key's bucket, up to `burst`."""

    MAX_KEYS = 100_000

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        #: key → (tokens, monotonic time they were counted at); least recently used first.
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def retry_after(self, key: Hashable) -> float:
        """Seconds until one token is available (0 when one is), without taking it."""
        if not self.enabled:
            return 0.0
        tokens = self._tokens(key, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: Hashable) -> None:
        """Take a token, or raise RateLimited saying when to come back."""
        if not self.enabled:
            return
        now = time.monotonic()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self._store(key, tokens, now)
            raise RateLimited(retry_after=math.ceil((1 - tokens) / self.rate))
        self._store(key, tokens - 1, now)

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.MAX_KEYS:
            self._buckets.popitem(last=False)
