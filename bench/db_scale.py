"""How the account database scales: 100 / 1,000 / 10,000 orders with 2 SANs each.

    .venv/bin/python bench/db_scale.py [--sizes 100,1000,10000] [--configobj]

For each size (best of 3 runs, the machine may be shared): file size; open (read, check
every line, split into sections, decode [account]); orders() the first time (sections
split into keys on first use) and again; one state change persisted (get_order,
put_order, save: durable); a full save (every section rendered again); peak Python memory
(tracemalloc, in a separate pass). With --configobj, plain configobj's read and write of
the same file, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.icsdb import AccountDB
from engine.model import (
    Account,
    ChallengeType,
    IssueState,
    Order,
    OutFmt,
    San,
    SupplierProto,
)


def build(directory: Path, count: int) -> None:
    with AccountDB.open(directory, create=True) as db:
        db.put_account(
            Account(
                work_dir=str(directory) + "/",
                supplier=SupplierProto.SuppProtoAcmeV2,
                server="https://acme-staging-v02.api.letsencrypt.org/directory",
                email="admin@example.com",
                title="ACME V2 by Let's Encrypt",
            )
        )
        stamp = datetime(2025, 3, 1, 12, 30, 0)
        for i in range(count):
            cn = f"host{i}.example.com"
            db.put_order(
                Order(
                    common_name=cn,
                    issue_state=IssueState.IssStateCollect,
                    challenge_type=ChallengeType.ChallFileSrv,
                    out_formats=frozenset({OutFmt.OutFmtBudl, OutFmt.OutFmtP12}),
                    well_known_dir=f"/srv/www/{cn}/.well-known/",
                    pub_web_dirs=[f"/srv/www/{cn}/certs/"],
                    order_num=1001 + i,
                    order_start=stamp,
                    cert_not_after=stamp,
                    supp_order_id=f"{100000 + i}",
                    sans=[
                        San(domain=cn, issue_state=IssueState.IssStateChallgOK, done=stamp),
                        San(domain=f"alt{i}.example.com", issue_state=IssueState.IssStateChallgOK),
                    ],
                )
            )


def timed(fn, repeat: int = 3):
    """Best of `repeat` runs (the machine may be shared), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(count: int, with_configobj: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "acct"
        build(directory, count)
        size = (directory / "ics-control.db").stat().st_size

        t_open, _ = timed(lambda: AccountDB.open(directory, writable=False))
        # orders() on a freshly opened db: the sections are split into keys on first use.
        t_first, _ = timed(lambda: AccountDB.open(directory, writable=False).orders())
        t_first -= t_open
        db = AccountDB.open(directory)
        assert len(db.orders()) == count
        t_orders, _ = timed(db.orders)

        def one_change():
            order = db.get_order(f"host{count // 2}.example.com")
            order.issue_state = IssueState(1 + order.issue_state % 9)
            db.put_order(order)
            db.save()

        t_change, _ = timed(one_change, 5)
        t_full, _ = timed(lambda: db.save(full=True))
        db.close()

        # Memory in a pass of its own: tracemalloc slows every allocation down.
        tracemalloc.start()
        held = AccountDB.open(directory, writable=False)
        _, peak_open = tracemalloc.get_traced_memory()
        orders = held.orders()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del orders, held

        line = (
            f"{count:>6} orders {size / 1e6:5.1f} MB | open {t_open * 1000:6.0f} ms"
            f" | orders() first {t_first * 1000:6.0f} ms, again {t_orders * 1000:6.0f} ms"
            f" | one change saved {t_change * 1000:5.0f} ms | full save {t_full * 1000:5.0f} ms"
            f" | peak {peak_open / 1e6:5.0f} MB open, {peak / 1e6:5.0f} MB with orders()"
        )
        if with_configobj:
            import configobj

            path = str(directory / "ics-control.db")
            t_read, conf = timed(
                lambda: configobj.ConfigObj(path, list_values=False, interpolation=False), 1
            )
            t_write, _ = timed(conf.write, 1)
            line += f" | configobj read {t_read:5.2f} s, write {t_write:5.2f} s"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--configobj", action="store_true", help="also time plain configobj")
    args = parser.parse_args()
    for count in (int(s) for s in args.sizes.split(",")):
        run(count, args.configobj)


if __name__ == "__main__":
    main()
