"""The ACME transport: directory, nonces, signed POSTs, problem documents.

One `AcmeClient` per account, holding one `httpx.AsyncClient` (one connection pool) for
every request to that CA. Every `Replay-Nonce` the CA sends is kept for the next request;
a `badNonce` answer is retried with the nonce it carried, a bounded number of times.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .jws import AccountKey, b64url_decode, sign_jws
from .problems import AcmeError, problem_error

__all__ = ["AcmeClient", "AcmeResponse", "USER_AGENT", "trust_context"]

USER_AGENT = "certdesk/0.1 (ACME RFC 8555)"
JOSE = "application/jose+json"
PEM_CHAIN = "application/pem-certificate-chain"
MAX_BAD_NONCE = 10  # at 20 % rejection, ten in a row is one in ten million
MAX_NONCES = 64


def trust_context(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """Verify the CA against `ca_bundle` when given, else the system store (OpenSSL's
    default paths, so `SSL_CERT_FILE` / `SSL_CERT_DIR` apply)."""
    if ca_bundle:
        path = Path(ca_bundle)
        if not path.is_file():
            raise AcmeError(f"the CA bundle {path} does not exist")
        try:
            return ssl.create_default_context(cafile=str(path))
        except ssl.SSLError as exc:
            raise AcmeError(f"the CA bundle {path} holds no usable certificate: {exc}") from None
    return ssl.create_default_context()


@dataclass
class AcmeResponse:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            raise AcmeError(
                f"{self.url} answered HTTP {self.status} with a body that is not JSON",
                status=self.status,
                url=self.url,
            ) from None

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def links(self, rel: str) -> list[str]:
        """The targets of `Link: <url>;rel="<rel>"` headers (RFC 8288)."""
        found = []
        for header in self.headers.get_list("link"):
            for part in _split_links(header):
                target, _, params = part.partition(">")
                target = target.strip().lstrip("<")
                rels = [
                    p.split("=", 1)[1].strip().strip('"')
                    for p in params.split(";")
                    if p.strip().lower().startswith("rel=")
                ]
                if any(rel in r.split() for r in rels):
                    found.append(httpx.URL(self.url).join(target).__str__())
        return found


def _split_links(header: str) -> list[str]:
    # Several links may share one header, separated by commas outside <...>.
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(header):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(header[start:i])
            start = i + 1
    parts.append(header[start:])
    return [p for p in parts if p.strip()]


class AcmeClient:
    """Signed requests to one ACME server with one account key."""

    def __init__(
        self,
        directory_url: str,
        key: AccountKey,
        *,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        log: Callable[[str], None] | None = None,
        json_log_path: str | os.PathLike[str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.directory_url = directory_url
        self.key = key
        self.kid: str | None = None  # the account URL, once known
        self._directory: dict[str, Any] | None = None
        self._nonces: list[str] = []
        self._log = log
        self._json_log = Path(json_log_path) if json_log_path else None
        self._http = httpx.AsyncClient(
            verify=trust_context(ca_bundle) if transport is None else True,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            limits=httpx.Limits(max_connections=10),  # one account, a few keep-alive connections
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AcmeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- directory and nonces -------------------------------------------------------

    async def directory(self) -> dict[str, Any]:
        if self._directory is None:
            response = await self._send("GET", self.directory_url)
            if response.status != 200:
                raise self._error(response)
            try:
                directory = json.loads(response.content)
            except ValueError:
                directory = None
            if not isinstance(directory, dict) or "newNonce" not in directory:
                raise AcmeError(
                    f"{self.directory_url} is not an ACME directory (no newNonce in its answer)",
                    url=self.directory_url,
                )
            self._directory = directory
        return self._directory

    async def endpoint(self, name: str) -> str:
        directory = await self.directory()
        url = directory.get(name)
        if not url:
            raise AcmeError(f"the CA at {self.directory_url} does not offer {name}")
        return url

    async def meta(self) -> dict[str, Any]:
        return (await self.directory()).get("meta") or {}

    async def _nonce(self) -> str:
        if self._nonces:
            return self._nonces.pop()
        url = await self.endpoint("newNonce")
        response = await self._send("HEAD", url)
        if response.status not in (200, 204) or not self._nonces:
            raise AcmeError(f"no Replay-Nonce from {url} (HTTP {response.status})", url=url)
        return self._nonces.pop()

    # -- requests -------------------------------------------------------------------

    async def post(
        self,
        url: str,
        payload: Any,
        *,
        key: AccountKey | None = None,
        use_jwk: bool = False,
        accept: str | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> AcmeResponse:
        """POST a JWS of `payload` (None = POST-as-GET) signed by the account key (`kid`
        form once the account URL is known) or by `key` (always `jwk` form)."""
        signer = key or self.key
        kid = None if (use_jwk or key is not None) else self.kid
        for _attempt in range(MAX_BAD_NONCE + 1):
            nonce = await self._nonce()
            body = sign_jws(signer, payload, url=url, nonce=nonce, kid=kid)
            response = await self._send(
                "POST",
                url,
                content=json.dumps(body).encode(),
                headers={"Content-Type": JOSE, **({"Accept": accept} if accept else {})},
                jws=body,
            )
            if response.status in ok:
                return response
            error = self._error(response)
            problem = getattr(error, "problem", None)
            if not (problem and problem.is_("badNonce")):
                raise error
            # The error carried a fresh nonce (now in the pool): sign again with it.
        raise error

    async def post_as_get(self, url: str, *, accept: str | None = None) -> AcmeResponse:
        return await self.post(url, None, accept=accept, ok=(200,))

    async def _send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        jws: dict[str, str] | None = None,
    ) -> AcmeResponse:
        try:
            raw = await self._http.request(method, url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise _transport_error(method, url, exc) from None
        response = AcmeResponse(raw.status_code, raw.headers, raw.content, str(raw.url))
        nonce = raw.headers.get("replay-nonce")
        if nonce and len(self._nonces) < MAX_NONCES:
            self._nonces.append(nonce)
        if self._log:
            self._log(f"{method} {url} -> {raw.status_code}")
        if self._json_log:
            self._write_json_log(method, url, response, jws)
        return response

    def _error(self, response: AcmeResponse) -> Exception:
        try:
            body: Any = json.loads(response.content)
        except ValueError:
            body = response.content.decode("utf-8", "replace")
        return problem_error(
            response.status, body, url=response.url, retry_after=response.headers.get("retry-after")
        )

    def _write_json_log(
        self, method: str, url: str, response: AcmeResponse, jws: dict[str, str] | None
    ) -> None:
        record: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": method,
            "url": url,
            "status": response.status,
        }
        if jws is not None:
            record["protected"] = _decode_part(jws["protected"])
            record["payload"] = _decode_part(jws["payload"]) if jws["payload"] else ""
        for name in ("location", "retry-after", "link"):
            if name in response.headers:
                record.setdefault("headers", {})[name] = ", ".join(response.headers.get_list(name))
        text = response.content.decode("utf-8", "replace")
        try:
            record["response"] = json.loads(text) if text else ""
        except ValueError:
            record["response"] = text
        # Only what went over the wire is logged: the account key and the EAB HMAC key
        # never do (the EAB binding carries a MAC, not its key).
        with open(self._json_log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _decode_part(part: str) -> Any:
    try:
        return json.loads(b64url_decode(part))
    except ValueError:
        return part


def _transport_error(method: str, url: str, exc: httpx.HTTPError) -> AcmeError:
    reason = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in reason or isinstance(exc.__context__, ssl.SSLError):
        what = f"TLS failure talking to the CA at {url}: {reason}"
        what += " (is the CA bundle right? see --ca-bundle / SSL_CERT_FILE)"
    elif isinstance(exc, httpx.TimeoutException):
        what = f"timed out talking to the CA at {url} ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        what = f"cannot connect to the CA at {url}: {reason}"
    else:
        what = f"{method} {url} failed: {reason}"
    return AcmeError(what, url=url, retryable=True)
