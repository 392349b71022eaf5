"""A save killed half-way leaves the old file or the new one, never a mix."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from engine.icsdb import AccountDB
from engine.model import IssueState, Order, San

ROOT = Path(__file__).resolve().parent.parent
ORDERS = 1500  # ~3.5 MB: a save takes long enough to be caught in the middle

SAVER = textwrap.dedent(
    """
    import os, sys, time
    from engine.icsdb import AccountDB
    if sys.argv[2] == "inside":
        # Stop inside write_atomic: the temp file is written, not yet renamed.
        real_fsync = os.fsync
        def fsync(fd):
            if generation >= 2:
                print("inside", flush=True)
                time.sleep(60)
            real_fsync(fd)
        os.fsync = fsync
    db = AccountDB.open(sys.argv[1])
    first, last = db.orders()[0].common_name, db.orders()[-1].common_name
    generation = 0
    while True:
        generation += 1
        # One generation number in three places far apart in the file: a torn write
        # would show two different numbers (or a cut file).
        db.account.title = f"gen {generation}"
        db.put_account(db.account)
        for cn in (first, last):
            order = db.get_order(cn)
            order.supp_order_ref = f"gen {generation}"
            db.put_order(order)
        db.save(full=True)
        if generation == 1:
            print("saving", flush=True)
    """
)


def test_killed_save_leaves_old_or_new(tmp_path):
    directory = tmp_path / "acct"
    with AccountDB.open(directory, create=True) as db:
        for i in range(ORDERS):
            cn = f"host{i}.example.com"
            db.put_order(
                Order(
                    common_name=cn,
                    issue_state=IssueState.IssStateCollect,
                    sans=[San(domain=cn), San(domain=f"alt{i}.example.com")],
                )
            )
    rng = random.Random(2)
    generations = set()
    for run in range(8):
        # Even runs: killed at a random moment; odd runs: killed inside a write.
        where = "inside" if run % 2 else "anywhere"
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(directory), where],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout.readline().strip() == "saving"
            if where == "inside":
                assert proc.stdout.readline().strip() == "inside"
            else:
                time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
        if where == "inside":
            assert list(directory.glob(".ics-control.db.*.tmp"))  # it died mid-save
        db = AccountDB.open(directory, writable=False)
        orders = db.orders()
        assert len(orders) == ORDERS
        marks = {db.account.title, orders[0].supp_order_ref, orders[-1].supp_order_ref}
        assert len(marks) == 1, marks  # one generation throughout: old or new, never a mix
        if where == "inside":
            assert marks == {"gen 1"}  # generation 2 never replaced the file
        generations |= marks
        data = (directory / "ics-control.db").read_bytes()
        assert data.endswith(b"\r\n\r\n")
        assert (directory / "ics-control.db").stat().st_mode & 0o777 == 0o600
    assert len(generations) > 1  # the children really did save
    # The next writer removes the temp file a killed save may have left.
    AccountDB.open(directory).close()
    assert not list(directory.glob(".ics-control.db.*.tmp"))
