"""How the account database scales: 100 / 1,000 / 10,000 orders with 2 SANs each.

    .venv/bin/python bench/db_scale.py [--sizes 100,1000,10000] [--configobj]

For each size: file size; open (read + parse + [account]); orders() (every order decoded
with its SANs); one state change persisted (put_order + save); a full save (every
section re-rendered); peak Python memory of open + orders() (tracemalloc). With
--configobj, plain configobj's read and write of the same file, for comparison.
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


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(count: int, with_configobj: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "acct"
        build(directory, count)
        size = (directory / "ics-control.db").stat().st_size

        tracemalloc.start()
        t_open, db = timed(lambda: AccountDB.open(directory))
        t_orders, orders = timed(db.orders)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(orders) == count

        def one_change():
            order = db.get_order(f"host{count // 2}.example.com")
            order.issue_state = IssueState.IssStateChallgPend
            db.put_order(order)
            db.save()

        t_change, _ = timed(one_change)

        t_full, _ = timed(lambda: db.save(full=True))
        db.close()
        line = (
            f"{count:>6} orders  {size / 1e6:6.1f} MB  open {t_open * 1000:7.1f} ms  "
            f"orders() {t_orders * 1000:7.1f} ms  one change {t_change * 1000:6.1f} ms  "
            f"full save {t_full * 1000:7.1f} ms  peak {peak / 1e6:6.1f} MB"
        )
        if with_configobj:
            import configobj

            path = str(directory / "ics-control.db")
            t_read, conf = timed(
                lambda: configobj.ConfigObj(path, list_values=False, interpolation=False)
            )
            t_write, _ = timed(conf.write)
            line += f"  | configobj read {t_read:5.2f} s write {t_write:5.2f} s"
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
