"""Challenge responders: one per ICS challenge method, chosen by `responder_for`.

    host = ResponderHost()                      # one per process; owns built-in servers
    responder = responder_for(order, account, host, on_event=bus.publish)
    line = await responder.prepare(challenge, order, account)
    result = await responder.self_test(challenge, order, account)
    ...                                         # the CA validates
    await responder.cleanup(challenge, order, account)
    await host.aclose()

`prepare` is idempotent: after a restart the workflow calls it again for challenges not
yet validated (built-in servers keep their tokens in memory only). A responder whose
`needs_process` is true answers from this process: the CA must not be asked to validate
unless the process that prepared it is still running.
"""

from __future__ import annotations

from collections.abc import Callable

from ..events import Event
from ..model import Account, ChallengeType, Order
from .base import Responder, ResponderError, SelfTest
from .host import ResponderHost
from .manual import PersonResponder, is_person_done, mark_person_done

# Each responder module is imported when an order first needs it, so commands that only
# read the account (list, show) do not load DNS, FTP and TLS machinery.

__all__ = [
    "Responder",
    "ResponderError",
    "SelfTest",
    "ResponderHost",
    "responder_for",
    "needs_process",
    "check_reachable",
    "mark_person_done",
    "is_person_done",
]

OnEvent = Callable[[Event], None]

_IN_PROCESS = {ChallengeType.ChallFileSrv, ChallengeType.ChallAlpnSrv}


def needs_process(kind: ChallengeType) -> bool:
    """Whether this method answers from the running process (a built-in server)."""
    return kind in _IN_PROCESS


def responder_for(
    order: Order, account: Account, host: ResponderHost, *, on_event: OnEvent | None = None
) -> Responder:
    """The responder for `order.challenge_type`. `on_event` receives progress events
    (DnsPropagation, WaitingForPerson) while a self-test waits."""
    kind = order.challenge_type
    if kind == ChallengeType.ChallFileUNC:
        from .webroot import WebRootResponder

        return WebRootResponder()
    if kind == ChallengeType.ChallFileFtp:
        from .ftp import FtpResponder

        return FtpResponder()
    if kind == ChallengeType.ChallFileSrv:
        from .builtin import BuiltinHttpResponder

        return BuiltinHttpResponder(host, order.http_listen or account.http_listen)
    if kind == ChallengeType.ChallAlpnSrv:
        from .builtin import BuiltinAlpnResponder

        return BuiltinAlpnResponder(host, order.alpn_listen or account.alpn_listen)
    if kind == ChallengeType.ChallAlpnUNC:
        from .webroot import AlpnDirResponder

        return AlpnDirResponder()
    if kind == ChallengeType.ChallDnsAuto:
        from .dns_rfc2136 import Rfc2136Responder

        return Rfc2136Responder(on_event=on_event)
    if kind == ChallengeType.ChallDnsMan:
        from .dns_manual import DnsManualResponder

        return DnsManualResponder(on_event=on_event)
    if kind in (ChallengeType.ChallEmail, ChallengeType.ChallManual):
        return PersonResponder(kind)
    if kind == ChallengeType.ChallNone:
        raise ResponderError(f"{order.common_name}: no challenge method chosen for this order")
    raise ResponderError(
        f"{order.common_name}: challenge method {kind.display!r} is not supported by certdesk"
    )


async def check_reachable(order: Order, account: Account, host: ResponderHost) -> list[SelfTest]:
    """The `check` step for file methods: for each name on the order, publish a random
    test file the way the order's method will, fetch it over HTTP, remove it. Other
    methods return an empty list (nothing to test before the CA gives a challenge)."""
    from .files import FileResponder

    responder = responder_for(order, account, host)
    if not isinstance(responder, FileResponder):
        return []
    names = list(dict.fromkeys([order.common_name, *order.san_names]))
    results = []
    for name in names:
        if name.startswith("*."):
            results.append(SelfTest(False, f"{name}: http-01 cannot validate a wildcard"))
            continue
        results.append(await responder.check(name, order, account))
    return results
