"""Waiting on the CA: honour Retry-After, else back off from a short first interval.

A fast CA (Pebble answers within milliseconds) is never waited on for long; a slow one is
not hammered: 25 ms, 50 ms, 100 ms ... up to 2 s between looks, within one deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .problems import AcmeError

__all__ = ["poll_until", "FIRST_INTERVAL", "MAX_INTERVAL"]

T = TypeVar("T")

FIRST_INTERVAL = 0.025
MAX_INTERVAL = 2.0

_sleep = asyncio.sleep  # a seam for unit tests


async def poll_until(
    fetch: Callable[[], Awaitable[tuple[T, float | None]]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    first: float = FIRST_INTERVAL,
    cap: float = MAX_INTERVAL,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Call `fetch` (returning a value and the server's Retry-After, if any) until `done`
    says the value is final; raise a retryable AcmeError when `timeout` runs out."""
    sleep = sleep or _sleep
    deadline = time.monotonic() + timeout
    interval = first
    while True:
        value, retry_after = await fetch()
        if done(value):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AcmeError(f"timed out after {timeout:g} s waiting for {what}", retryable=True)
        if retry_after is not None:
            delay = retry_after
        else:
            delay = interval
            interval = min(interval * 2, cap)
        await sleep(max(0.0, min(delay, remaining)))
