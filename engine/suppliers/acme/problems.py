"""ACME problem documents (RFC 8555 §6.7, RFC 7807) as SupplierErrors a person can read."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

from ..base import RateLimited, SupplierError

__all__ = [
    "ACME_ERROR",
    "Problem",
    "AcmeError",
    "AcmeRateLimited",
    "problem_error",
    "parse_retry_after",
]

ACME_ERROR = "urn:ietf:params:acme:error:"

# Problems worth sending again unchanged (after a pause, or with a fresh nonce).
_RETRYABLE = {"badNonce", "rateLimited", "serverInternal"}


@dataclass
class Problem:
    type: str = "about:blank"
    detail: str = ""
    status: int = 0
    identifier: str = ""  # `type:value` of a subproblem's identifier
    subproblems: list[Problem] = field(default_factory=list)

    @classmethod
    def from_json(cls, doc: Any, status: int = 0) -> Problem:
        if not isinstance(doc, dict):
            return cls(detail=str(doc), status=status)
        ident = doc.get("identifier") or {}
        subs = doc.get("subproblems") or []
        return cls(
            type=str(doc.get("type") or "about:blank"),
            detail=str(doc.get("detail") or ""),
            status=int(doc.get("status") or status or 0),
            identifier=str(ident.get("value", "")) if isinstance(ident, dict) else "",
            subproblems=[cls.from_json(sub) for sub in subs if isinstance(sub, dict)],
        )

    @property
    def short_type(self) -> str:
        """`badNonce` for `urn:ietf:params:acme:error:badNonce`; other types as they are."""
        return self.type.removeprefix(ACME_ERROR)

    def is_(self, short: str) -> bool:
        return self.short_type == short

    def __str__(self) -> str:
        text = f"{self.short_type}: {self.detail}" if self.detail else self.short_type
        for sub in self.subproblems:
            who = sub.identifier or "?"
            text += f"; {who}: {sub.short_type}: {sub.detail}"
        return text


class AcmeError(SupplierError):
    """The CA answered with a problem document (or an unexpected response)."""

    def __init__(
        self,
        message: str,
        *,
        problem: Problem | None = None,
        status: int = 0,
        url: str = "",
        retryable: bool = False,
    ) -> None:
        super().__init__(message, retryable=retryable, detail=problem.detail if problem else "")
        self.problem = problem
        self.status = status
        self.url = url


class AcmeRateLimited(RateLimited):
    def __init__(self, message: str, retry_after: float | None, problem: Problem | None) -> None:
        super().__init__(message, retry_after)
        self.problem = problem
        self.status = 429
        self.detail = problem.detail if problem else ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def problem_error(
    status: int, body: Any, *, url: str, retry_after: str | None = None
) -> SupplierError:
    """The error to raise for a failed ACME response: `type: detail (+ subproblems)`."""
    if isinstance(body, dict) and ("type" in body or "detail" in body):
        problem = Problem.from_json(body, status)
    else:
        problem = None
    wait = parse_retry_after(retry_after)
    if status == 429 or (problem and problem.is_("rateLimited")):
        text = str(problem) if problem else f"HTTP {status}"
        if wait is not None:
            text += f" (retry after {wait:.0f} s)"
        return AcmeRateLimited(f"rate limited by the CA: {text}", wait, problem)
    if problem is None:
        snippet = body if isinstance(body, str) else ""
        snippet = " ".join(snippet.split())[:200]
        message = f"HTTP {status} from {url}" + (f": {snippet}" if snippet else "")
        return AcmeError(message, status=status, url=url, retryable=status >= 500)
    retryable = status >= 500 or problem.short_type in _RETRYABLE
    return AcmeError(str(problem), problem=problem, status=status, url=url, retryable=retryable)
