"""The order workflow: drives one order through `engine.states`, one recorded step at a time.

Every step follows the same discipline: ask the state table whether the step is allowed,
do the I/O (a supplier call, a responder call, a file write), record the outcome in the
account database and save it, then publish an event. A process killed between any two
steps therefore resumes from the file: `next_step()` reads only stored states.

The workflow is the same for every supplier; what differs lives behind `Supplier` (the CA)
and `Responder` (where challenge responses go).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import challenges
from . import events as ev
from .challenges.base import Responder, ResponderError
from .checks import (
    CheckError,
    check_combination,
    guard_reorder,
    names_from_csr,
    normalise_order,
)
from .icsdb import GroupCommit
from .model import (
    Account,
    ChainResult,
    Challenge,
    ChallengeType,
    CsrOrigin,
    IssueState,
    Order,
    SupplierProto,
    as_local,
)
from .names import NameError_
from .states import (
    HAS_CERTIFICATE,
    IN_FLIGHT,
    ChallengeEvent,
    InvalidTransition,
    OrderEvent,
    Step,
    challenge_after,
    next_step,
    order_after,
)
from .suppliers.base import IssuedChain, Supplier, SupplierError, SupplierOrder

__all__ = ["WorkflowError", "Outcome", "Workflow", "normalise_order"]

log = logging.getLogger("certdesk.workflow")

S = IssueState
FIRST_POLL = 0.02  # a fast CA (Pebble, an Own CA) is never waited on
MAX_POLL = 2.0


class WorkflowError(Exception):
    """A step could not be done. `str()` is a sentence for a person; the order is left in a
    state from which it can be retried (or says why not)."""

    def __init__(self, cn: str, message: str) -> None:
        super().__init__(f"{cn}: {message}")
        self.cn = cn


@dataclass
class Outcome:
    """What one step achieved, so the driver knows whether to go on, wait or stop."""

    progressed: bool
    waiting: str = ""  # why it cannot go on now (a person, DNS, the CA)
    needs_host: bool = False  # a built-in responder must run in a process that stays up
    retry_after: float | None = None
    person: bool = False  # waiting for somebody to act, not for a machine


class Workflow:
    """Drives the orders of one open account.

    `hosting` says this process stays up while challenges are validated (`certdesk run`,
    `order --wait`, the app): only then may the CA be asked to validate against a
    responder that lives in this process (the built-in HTTP and TLS-ALPN servers).
    """

    def __init__(
        self,
        db,
        supplier: Supplier,
        responders,
        bus: ev.EventBus,
        *,
        hosting: bool = False,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.db = db
        self.supplier = supplier
        self.responders = responders
        self.bus = bus
        self.hosting = hosting
        self._now = now
        self._prepared_here: set[str] = set()  # challenge sections prepared by this process
        self._commit = GroupCommit(db)  # concurrent orders share durable writes

    # ------------------------------------------------------------------------------
    # Recording

    @property
    def account(self) -> Account:
        return self.db.account

    @property
    def directory(self) -> Path:
        return Path(self.db.directory)

    def get(self, cn: str) -> Order:
        order = self.db.get_order(cn)
        if order is None:
            raise WorkflowError(cn, "there is no order with that common name in this account")
        return order

    async def _save(self, order: Order | None = None, *challenges: Challenge) -> None:
        if order is not None:
            self.db.put_order(order)
        for challenge in challenges:
            self.db.put_challenge(challenge)
        await self._commit.save()

    async def _move(self, order: Order, event: OrderEvent, *challenges: Challenge) -> None:
        old = order.issue_state
        try:
            order.issue_state = order_after(old, event, order.common_name)
        except InvalidTransition as exc:
            raise WorkflowError(order.common_name, str(exc).split(": ", 1)[-1]) from None
        if order.issue_state in (S.IssStateCollect, S.IssStateInstall, S.IssStateCancel):
            for san in order.sans:
                san.issue_state = order.issue_state
        await self._save(order, *challenges)
        if old != order.issue_state:
            self.bus.publish(
                ev.OrderStateChanged(order.common_name, old=old, new=order.issue_state)
            )

    async def _move_challenge(
        self, order: Order, challenge: Challenge, event: ChallengeEvent, result: str | None = None
    ) -> None:
        challenge.issue_state = challenge_after(challenge.issue_state, event, challenge.identifier)
        if result is not None:
            challenge.valid_result = result
        if challenge.issue_state in (S.IssStateChallgOK, S.IssStateNone):
            challenge.done = self._now()
        san = order.san(challenge.identifier)
        if san is not None:
            san.issue_state = challenge.issue_state
            san.valid_result = challenge.valid_result
            san.start = san.start or challenge.start
            san.done = challenge.done
        await self._save(order, challenge)

    async def _fail(self, order: Order, message: str) -> WorkflowError:
        """Record a failure that ends the order at the CA (state None) and return the error."""
        order.cert_errors = message
        if order.issue_state != S.IssStateNone:
            await self._move(order, OrderEvent.FAILED)
        else:
            await self._save(order)
        self.bus.publish(ev.OrderFailed(order.common_name, error=message))
        return WorkflowError(order.common_name, message)

    async def _report(self, order: Order, message: str) -> WorkflowError:
        """Record a failure that leaves the order where it is, to be retried."""
        order.cert_errors = message
        await self._save(order)
        self.bus.publish(ev.OrderFailed(order.common_name, error=message))
        return WorkflowError(order.common_name, message)

    def challenges(self, order: Order) -> list[Challenge]:
        return self.db.challenges(order.common_name)

    def responder(self, order: Order) -> Responder:
        return challenges.responder_for(
            order, self.account, self.responders, on_event=self.bus.publish
        )

    # ------------------------------------------------------------------------------
    # Check

    async def check(self, cn: str, *, force: bool = False) -> Order:
        """Local checks before ordering: names, settings, guards, a reachability test."""
        order = self.get(cn)
        if order.issue_state in IN_FLIGHT:
            raise WorkflowError(
                cn, f"it is {order.issue_state.display}; cancel it or let it finish first"
            )
        try:
            order = normalise_order(names_from_csr(order))
            check_combination(order, self.account.supplier)
            if not force:
                guard_reorder(order, self.account.supplier, self._now())
        except (NameError_, CheckError) as exc:
            raise WorkflowError(cn, str(exc).removeprefix(f"{cn}: ")) from None
        if self.account.supplier == SupplierProto.SuppProtoAcmeV2 and order.challenge_type.is_http:
            results = await challenges.check_reachable(order, self.account, self.responders)
            failed = [r for r in results if not r.ok]
            for result in results:
                self.bus.publish(
                    ev.ChallengeTested(cn, domain=cn, ok=result.ok, detail=result.detail)
                )
            if failed:
                raise await self._report(order, "test file not reachable: " + failed[0].detail)
        order.cert_errors = ""
        await self._move(order, OrderEvent.CHECKED)
        return order

    # ------------------------------------------------------------------------------
    # Order

    async def place_order(self, cn: str, *, force: bool = False) -> Order:
        """Check if needed, then place a new order with the supplier and prepare challenges."""
        order = self.get(cn)
        if order.issue_state != S.IssStateChecked:
            order = await self.check(cn, force=force)
        order.order_attempts += 1
        order.order_num = self.db.allocate_order_num()
        order.supp_order_ref = order.supp_order_ref or f"ICS-{order.order_num}"
        order.order_start = self._now()
        order.acme_order_url = order.acme_finalize_url = ""
        order.challenges_start = order.challenges_done = order.certs_collected = None
        order.pending_challenges = 0
        order.cert_errors = ""
        for san in order.sans:
            san.issue_state, san.valid_result, san.start, san.done = S.IssStateNone, "", None, None
        await self._drop_challenges(order)
        await self._save(order)
        try:
            placed = await self.supplier.new_order(order)
        except SupplierError as exc:
            raise await self._fail(order, f"the supplier refused the order: {exc}") from None
        order.supp_order_id = placed.order_id
        order.acme_order_url = placed.order_url
        order.acme_finalize_url = placed.finalize_url
        order.challenges_expire = as_local(placed.expires)
        order.challenges_start = self._now()
        if placed.status == "invalid":
            raise await self._fail(
                order, placed.error or "the supplier says the new order is invalid"
            )
        if placed.status in ("ready", "valid", "processing") and not placed.authorizations:
            await self._move(order, OrderEvent.ORDER_READY)
            return order
        challenges = self._records_for(order, placed)
        await self._move(order, OrderEvent.ORDERED, *challenges)
        await self._prepare(order)
        return order

    def _records_for(self, order: Order, placed: SupplierOrder) -> list[Challenge]:
        records = []
        for authz in placed.authorizations:
            identifier = f"*.{authz.domain}" if authz.wildcard else authz.domain
            index = order.san_names.index(identifier) if identifier in order.san_names else -1
            record = Challenge(
                domain=authz.domain,
                wildcard=authz.wildcard,
                common_name=order.common_name,
                san_index=index,
                supp_order_id=placed.order_id,
                well_known_dir=_san_attr(order, identifier, "well_known_dir")
                or order.well_known_dir,
                pub_web_dir=_san_attr(order, identifier, "pub_web_dir"),
                supplier=self.account.supplier,
                challenge_type=order.challenge_type,
                authz_url=authz.authz_url,
                token=authz.token,
                url=authz.challenge_url,
                key_authorization=authz.key_authorization,
                start=self._now(),
                expires=as_local(authz.expires or placed.expires),
            )
            if authz.status == "valid":
                record.issue_state = S.IssStateChallgOK
                record.valid_result = "OK, authorization already valid (reused)"
                record.done = self._now()
            san = order.san(identifier)
            if san is not None:
                san.issue_state, san.valid_result = record.issue_state, record.valid_result
                san.start = record.start
            records.append(record)
        return records

    async def _drop_challenges(self, order: Order) -> None:
        """Remove the challenge records of an earlier order, cleaning up their responses."""
        for challenge in self.challenges(order):
            await self._cleanup(order, challenge)
            self.db.remove_challenge(challenge)

    async def _cleanup(self, order: Order, challenge: Challenge) -> None:
        try:
            await self.responder(order).cleanup(challenge, order, self.account)
        except (ResponderError, OSError) as exc:
            self.bus.log(
                order.common_name,
                f"cleanup of {challenge.identifier} failed: {exc}",
                logging.WARNING,
            )
        except Exception as exc:  # a responder that cannot even be built (settings removed)
            self.bus.log(
                order.common_name,
                f"cleanup of {challenge.identifier} skipped: {exc}",
                logging.WARNING,
            )
        self._prepared_here.discard(challenge.section_name)

    # ------------------------------------------------------------------------------
    # Driving: one step at a time, as next_step() says

    async def step(self, cn: str) -> Outcome:
        order = self.get(cn)
        expires = order.challenges_expire
        if order.issue_state in IN_FLIGHT and expires is not None and expires < self._now():
            # The CA has forgotten this order (ICS drops such challenges when it reads them).
            await self._drop_challenges(order)
            raise await self._fail(
                order, f"the order expired at the CA on {expires:%Y-%m-%d %H:%M}; order again"
            )
        step = next_step(order.issue_state, [c.issue_state for c in self.challenges(order)])
        match step:
            case Step.NOTHING:
                return Outcome(progressed=False)
            case Step.PLACE_ORDER:
                await self.place_order(cn)
                return Outcome(progressed=True)
            case Step.PREPARE:
                return await self._prepare(order)
            case Step.SELF_TEST:
                return await self._self_test(order)
            case Step.START:
                return await self._start(order)
            case Step.POLL:
                return await self._poll(order)
            case Step.COLLECT:
                if order.issue_state != S.IssStateChallgOK:
                    # Every challenge is valid (reused authorizations): confirm with the CA
                    # that the order is ready before finalizing it.
                    return await self._poll(order)
                await self.collect(cn)
                return Outcome(progressed=True)
        raise AssertionError(step)  # pragma: no cover - the match is exhaustive

    async def complete(self, cn: str, *, timeout: float | None = None) -> Outcome:
        """Step an order until it is finished, or must wait for a person or a host process.

        Between steps that made no progress it backs off from a few tens of milliseconds,
        or waits as long as the CA's Retry-After asks.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = FIRST_POLL
        while True:
            outcome = await self.step(cn)
            if outcome.progressed:
                delay = FIRST_POLL
                continue
            if outcome.needs_host or not outcome.waiting:
                return outcome
            if deadline is not None and loop.time() >= deadline:
                return outcome
            cap = max(MAX_POLL, float(self.account.poll_interval)) if outcome.person else MAX_POLL
            pause = outcome.retry_after if outcome.retry_after is not None else delay
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            delay = min(delay * 2, cap)

    async def _prepare(self, order: Order) -> Outcome:
        """Put every unprepared response in place."""
        responder = self.responder(order)
        progressed = False
        for challenge in self.challenges(order):
            if challenge.issue_state != S.IssStateNone:
                continue
            try:
                detail = await responder.prepare(challenge, order, self.account)
            except (ResponderError, OSError) as exc:
                challenge.valid_result = f"Failed: {exc}"
                await self._save(order, challenge)
                raise await self._report(order, f"{challenge.identifier}: {exc}") from None
            self._prepared_here.add(challenge.section_name)
            await self._move_challenge(order, challenge, ChallengeEvent.PREPARED, "")
            self.bus.publish(
                ev.ChallengePrepared(
                    order.common_name,
                    domain=challenge.identifier,
                    method=order.challenge_type.display,
                    detail=detail,
                )
            )
            progressed = True
        return Outcome(progressed=progressed)

    async def _ensure_prepared_here(self, order: Order, responder: Responder) -> Outcome | None:
        """A built-in server's tokens live in memory: after a restart, put them back.

        Returns an Outcome to stop with when this process cannot host them.
        """
        if not challenges.needs_process(order.challenge_type):
            return None
        unfinished = [
            c for c in self.challenges(order) if c.issue_state in IN_FLIGHT - {S.IssStateChallgOK}
        ]
        if not unfinished:
            return None
        if not self.hosting:
            return Outcome(
                progressed=False,
                needs_host=True,
                waiting="the built-in challenge server needs a process that stays up: "
                "run `certdesk run` (or order with --wait)",
            )
        for challenge in unfinished:
            if challenge.section_name not in self._prepared_here:
                await responder.prepare(challenge, order, self.account)
                self._prepared_here.add(challenge.section_name)
        return None

    async def _self_test(self, order: Order) -> Outcome:
        responder = self.responder(order)
        stop = await self._ensure_prepared_here(order, responder)
        if stop is not None:
            return stop
        waiting: list[str] = []
        person = False
        for challenge in self.challenges(order):
            if challenge.issue_state != S.IssStateChallgReq:
                continue
            result = await responder.self_test(challenge, order, self.account)
            self.bus.publish(
                ev.ChallengeTested(
                    order.common_name,
                    domain=challenge.identifier,
                    ok=result.ok,
                    detail=result.detail,
                )
            )
            if result.ok:
                await self._move_challenge(order, challenge, ChallengeEvent.TEST_PASSED, "")
            elif result.waiting:
                waiting.append(f"{challenge.identifier}: {result.detail}")
                person = person or order.challenge_type in _BY_HAND
            else:
                challenge.valid_result = f"Failed: {result.detail}"
                await self._move_challenge(order, challenge, ChallengeEvent.PREPARED)
                raise await self._report(
                    order, f"self-test of {challenge.identifier} failed: {result.detail}"
                )
        if waiting:
            if person:
                self.bus.publish(ev.WaitingForPerson(order.common_name, what="; ".join(waiting)))
            return Outcome(progressed=False, waiting="; ".join(waiting), person=person)
        await self._move(order, OrderEvent.TESTED)
        return Outcome(progressed=True)

    async def _start(self, order: Order) -> Outcome:
        responder = self.responder(order)
        stop = await self._ensure_prepared_here(order, responder)
        if stop is not None:
            return stop
        if order.issue_state == S.IssStateChallgWaitTest:
            await self._move(order, OrderEvent.STARTING)
        for challenge in self.challenges(order):
            if challenge.issue_state == S.IssStateChallgWaitTest:
                await self._move_challenge(order, challenge, ChallengeEvent.STARTING)
            if challenge.issue_state != S.IssStateChallgTest:
                continue
            try:
                status = await self.supplier.start_challenge(challenge)
            except SupplierError as exc:
                if exc.retryable:
                    raise await self._report(
                        order, f"starting {challenge.identifier}: {exc}"
                    ) from None
                await self._cleanup(order, challenge)
                await self._move_challenge(
                    order, challenge, ChallengeEvent.INVALID, f"Failed: {exc}"
                )
                raise await self._fail(order, f"{challenge.identifier}: {exc}") from None
            if status.status == "valid":
                await self._move_challenge(
                    order, challenge, ChallengeEvent.VALID, status.detail or "OK"
                )
                await self._cleanup(order, challenge)
            elif status.status == "invalid":
                return await self._invalid(order, challenge, status.detail)
            else:
                await self._move_challenge(order, challenge, ChallengeEvent.STARTED)
                order.pending_challenges += 1
                await self._save(order)
                self.bus.publish(
                    ev.ChallengeStarted(order.common_name, domain=challenge.identifier)
                )
        if order.issue_state == S.IssStateChallgTest:
            await self._move(order, OrderEvent.STARTED)
        return Outcome(progressed=True)

    async def _poll(self, order: Order) -> Outcome:
        responder = self.responder(order)
        stop = await self._ensure_prepared_here(order, responder)
        if stop is not None:
            return stop
        retry_after = None
        pending = False
        progressed = False
        for challenge in self.challenges(order):
            if challenge.issue_state != S.IssStateChallgPend:
                continue
            try:
                status = await self.supplier.poll_challenge(challenge)
            except SupplierError as exc:
                if exc.retryable:
                    return Outcome(
                        progressed=False,
                        waiting=str(exc),
                        retry_after=getattr(exc, "retry_after", None),
                    )
                raise await self._report(order, f"checking {challenge.identifier}: {exc}") from None
            if status.status == "valid":
                order.pending_challenges = max(0, order.pending_challenges - 1)
                await self._move_challenge(
                    order, challenge, ChallengeEvent.VALID, status.detail or "OK"
                )
                self.bus.publish(
                    ev.ChallengeValid(
                        order.common_name, domain=challenge.identifier, detail=status.detail
                    )
                )
                await self._cleanup(order, challenge)
                progressed = True
            elif status.status == "invalid":
                return await self._invalid(order, challenge, status.detail)
            else:
                pending = True
                if status.retry_after is not None:
                    retry_after = status.retry_after
        if pending:
            return Outcome(
                progressed=progressed, waiting="the CA is validating", retry_after=retry_after
            )
        try:
            placed = await self.supplier.poll_order(order)
        except SupplierError as exc:
            if exc.retryable:
                return Outcome(progressed=False, waiting=str(exc))
            raise await self._report(order, f"checking the order: {exc}") from None
        if placed.status in ("ready", "valid", "processing"):
            await self._move(order, OrderEvent.VALIDATED)
            return Outcome(progressed=True)
        if placed.status == "invalid":
            await self._drop_challenges(order)
            raise await self._fail(order, placed.error or "the CA says the order is invalid")
        return Outcome(progressed=progressed, waiting="the order is still pending at the CA")

    async def _invalid(self, order: Order, challenge: Challenge, detail: str) -> Outcome:
        await self._move_challenge(order, challenge, ChallengeEvent.INVALID, f"Failed: {detail}")
        self.bus.publish(
            ev.ChallengeInvalid(order.common_name, domain=challenge.identifier, detail=detail)
        )
        order.failed_validations = [
            *order.failed_validations[-20:],
            f"{challenge.identifier}@{self._now():%Y-%m-%dT%H:%M:%S}",
        ]
        await self._drop_challenges(order)
        raise await self._fail(order, f"validation of {challenge.identifier} failed: {detail}")

    # ------------------------------------------------------------------------------
    # Collect and install

    async def collect(self, cn: str) -> Order:
        """Finalize: key and CSR, the certificate, its files, the chain check; then install."""
        from .crypto.chain import apply_chain_report, check_chain
        from .outputs import save_certificate_files

        order = self.get(cn)
        if order.issue_state != S.IssStateChallgOK:
            order_after(order.issue_state, OrderEvent.COLLECTED, cn)  # raises with the reason
        key, csr_der = await self._key_and_csr(order)
        try:
            chain: IssuedChain = await self.supplier.finalize(order, csr_der)
        except SupplierError as exc:
            if exc.retryable:
                raise await self._report(order, f"collecting the certificate: {exc}") from None
            await self._drop_challenges(order)
            raise await self._fail(order, f"collecting the certificate: {exc}") from None
        try:
            # In a thread: a certificate's fsync'd files must not hold up the other orders.
            await asyncio.to_thread(
                save_certificate_files,
                order,
                self.directory,
                self.account.supplier,
                key,
                csr_der,
                chain,
            )
        except (OSError, ValueError) as exc:
            raise await self._report(order, f"saving the certificate files: {exc}") from None
        report = check_chain(
            chain.certificate_pem,
            chain.chain_pems,
            key,
            order.san_names,
            self._trust_roots(),
            datetime.now(UTC),
        )
        apply_chain_report(order, report)
        now = self._now()
        order.certs_collected = order.challenges_done = now
        for challenge in self.challenges(order):
            await self._cleanup(order, challenge)
            self.db.remove_challenge(challenge)
        await self._move(order, OrderEvent.COLLECTED)
        self.bus.publish(
            ev.CertificateCollected(
                cn,
                serial=_serial_of(chain.certificate_pem),
                not_after=order.cert_not_after,
                chain_result=order.chain_result.name,
                level=logging.INFO
                if order.chain_result != ChainResult.chainFail
                else logging.ERROR,
            )
        )
        if order.pub_web_dirs or order.install_command:
            await self.install(cn)
        return self.get(cn)

    async def _key_and_csr(self, order: Order):
        """The key and CSR for this order; reused when an earlier attempt at this same order
        saved them already, so a process killed after finalize collects the certificate
        the CA issued for the key it has."""
        from .crypto.csr import build_csr, csr_to_der, load_csr
        from .crypto.keys import generate_key, load_key
        from .outputs import CSR, KEY, order_name, pem_key_password, save_key_and_csr

        if order.csr_origin == CsrOrigin.CsrOriginFile:
            key = load_key(Path(order.old_key_file).read_bytes(), order.key_password or None)
            return key, csr_to_der(Path(order.old_csr_file).read_bytes())
        base = order_name(
            self.directory, self.account.supplier, order.supp_order_id, order.common_name
        )
        saved_key, saved_csr = Path(f"{base}{KEY}"), Path(f"{base}{CSR}")
        if saved_key.exists() and saved_csr.exists():
            key = load_key(saved_key.read_bytes(), pem_key_password(order), source=str(saved_key))
            return key, csr_to_der(load_csr(saved_csr.read_bytes(), source=str(saved_csr)))
        key = await asyncio.to_thread(generate_key, order.key_type)  # RSA 4096 takes a while
        csr = build_csr(order, key)
        await asyncio.to_thread(
            save_key_and_csr, order, self.directory, self.account.supplier, key, csr
        )
        await self._save(order)
        return key, csr_to_der(csr)

    def _trust_roots(self) -> list[bytes] | None:
        """Roots the chain check trusts: a bundle set for the account (a private ACME CA,
        Pebble in tests), else the Own CA's root; None means the system store."""
        if self.account.trust_roots:
            try:
                return [Path(self.account.trust_roots).read_bytes()]
            except OSError as exc:
                self.bus.log(
                    "",
                    f"cannot read trust roots {self.account.trust_roots}: {exc}",
                    logging.WARNING,
                )
        roots = getattr(self.supplier, "trust_roots", None)
        return roots() if callable(roots) else None

    async def install(self, cn: str) -> Order:
        from .outputs import install_certificate

        order = self.get(cn)
        order_after(order.issue_state, OrderEvent.INSTALLED, cn)
        if order.chain_result == ChainResult.chainFail:
            raise await self._report(order, "not installed: the certificate failed its chain check")
        if not (order.pub_web_dirs or order.install_command):
            raise WorkflowError(cn, "no install directories (--pub-dir) or install command are set")
        try:
            result = await asyncio.to_thread(install_certificate, order, self.directory)
        except (OSError, ValueError) as exc:
            raise await self._report(order, f"install failed: {exc}") from None
        await self._move(order, OrderEvent.INSTALLED)
        self.bus.publish(
            ev.CertificateInstalled(
                cn,
                directories=tuple(order.pub_web_dirs),
                command=order.install_command,
                exit_code=getattr(result, "exit_code", None),
                level=logging.INFO if not getattr(result, "exit_code", 0) else logging.WARNING,
            )
        )
        output = getattr(result, "output", "")
        if output:
            self.bus.log(cn, f"install command output: {output.strip()}")
        return order

    async def redistribute(self, cn: str) -> Order:
        """Save and copy the final files of the current certificate again."""
        from .outputs import redistribute

        order = self.get(cn)
        if order.issue_state not in HAS_CERTIFICATE:
            raise WorkflowError(
                cn,
                f"it has no collected certificate to redistribute (it is {order.issue_state.display})",
            )
        try:
            await asyncio.to_thread(redistribute, order, self.directory, self.account.supplier)
        except (OSError, ValueError) as exc:
            raise await self._report(order, f"redistribute failed: {exc}") from None
        await self._save(order)
        if order.pub_web_dirs or order.install_command:
            return await self.install(cn)
        return order

    # ------------------------------------------------------------------------------
    # Cancel, revoke, remove

    async def cancel(self, cn: str) -> Order:
        order = self.get(cn)
        if order.issue_state not in IN_FLIGHT:
            order_after(order.issue_state, OrderEvent.CANCELLED, cn)
        challenges = self.challenges(order)
        try:
            await self.supplier.cancel(order, challenges)
        except SupplierError as exc:
            raise await self._report(order, f"cancel failed: {exc}") from None
        await self._drop_challenges(order)
        await self._move(order, OrderEvent.CANCELLED)
        return order

    async def revoke(
        self, cn: str, reason: int = 0, *, with_certificate_key: bool = False
    ) -> Order:
        """Revoke the current certificate, signing with the account key, or (ACME) with the
        certificate's own key: the way when the ordering account is lost or compromised."""
        order = self.get(cn)
        order_after(order.issue_state, OrderEvent.REVOKED, cn)
        by_key = getattr(self.supplier, "revoke_with_cert_key", None)
        if with_certificate_key and by_key is None:
            raise WorkflowError(cn, "this supplier revokes only with the account key")
        cert_path = order.file_cert or order.file_bundle
        try:
            cert_pem = Path(cert_path).read_bytes()
        except OSError as exc:
            raise WorkflowError(
                cn, f"cannot read the certificate to revoke ({cert_path}): {exc}"
            ) from None
        try:
            if with_certificate_key:
                from .crypto.keys import load_key
                from .outputs import pem_key_password

                key = load_key(Path(order.file_key).read_bytes(), pem_key_password(order))
                await by_key(cert_pem, key, reason)
            else:
                await self.supplier.revoke(order, cert_pem, reason)
        except (SupplierError, OSError, ValueError) as exc:
            raise await self._report(order, f"revoke failed: {exc}") from None
        order.revoke_reason = reason
        await self._move(order, OrderEvent.REVOKED)
        return order

    async def remove(self, cn: str) -> None:
        order = self.get(cn)
        await self._drop_challenges(order)
        self.db.remove_order(order.common_name)
        await self._commit.save()
        self.bus.log(cn, "order removed from the account")


_BY_HAND = frozenset(
    {ChallengeType.ChallDnsMan, ChallengeType.ChallEmail, ChallengeType.ChallManual}
)


def _san_attr(order: Order, name: str, attr: str) -> str:
    san = order.san(name)
    return getattr(san, attr) if san is not None else ""


def _serial_of(pem: bytes) -> str:
    from cryptography import x509

    try:
        return format(x509.load_pem_x509_certificate(pem).serial_number, "x")
    except ValueError:
        return "?"
