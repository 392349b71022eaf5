"""The app with a 10,000-order account: first paint, filter, key-to-repaint under load.

Targets (issue 6): first paint < 1 s, filter < 100 ms, key-to-repaint < 50 ms while 20
orders progress, peak RSS < 200 MB. Prints the figures; asserts nothing.

    .venv/bin/python bench/tui_bench.py [--orders N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_account(root: Path, n: int) -> Path:
    from engine.accounts import create_ownca_account
    from engine.icsdb import AccountDB
    from engine.model import Order
    from engine.workflow import normalise_order

    directory = create_ownca_account(root / "accounts" / "bench", title="Bench CA")
    with AccountDB.open(directory) as db:
        for i in range(n):
            cn = f"host{i:05d}.example.com"
            db.put_order(normalise_order(Order(common_name=cn, san_names=[f"www{i}.example.com"])))
        db.save()
    return directory


class Frames:
    """When the app finished drawing each frame: the compositor renders a frame, then hands it
    to `App._display` (which a headless app skips). Latencies below end at the first frame
    drawn after the change, so they include Textual's frame pacing, not Pilot's idle waits."""

    def __init__(self, app) -> None:
        self.times: list[float] = []
        display = app._display

        def record(screen, renderable) -> None:
            if renderable is not None:
                self.times.append(time.perf_counter())
            display(screen, renderable)

        app._display = record

    async def after(self, start: float, done=lambda: True, limit: float = 30.0) -> float:
        """Seconds from `start` to the first frame drawn once `done()` holds."""
        while time.perf_counter() - start < limit:
            if done():
                mark = time.perf_counter()
                while time.perf_counter() - start < limit:
                    if self.times and self.times[-1] >= mark:
                        return self.times[-1] - start
                    await asyncio.sleep(0.001)
            await asyncio.sleep(0.001)
        return float("inf")


async def measure(directory: Path, moving: int, interval: float) -> dict[str, float]:
    from textual import events

    from tui.app import CertdeskApp

    figures: dict[str, float] = {}
    start = time.perf_counter()
    app = CertdeskApp(directory, scheduler=False)
    frames = Frames(app)
    async with app.run_test(size=(160, 48)) as pilot:
        figures["first paint of the order list (s)"] = await frames.after(
            start, lambda: app.ready.is_set() and app.table.row_count > 0
        )
        figures["orders shown"] = app.table.row_count
        await pilot.pause()

        times = []
        for needle in ("host0999", "host01", "www77", "", "host0999", "example"):
            t = time.perf_counter()
            app.table.set_filter(needle)
            times.append(await frames.after(t))
            await pilot.pause()
        figures["filter, median (ms)"] = statistics.median(times) * 1000
        figures["filter, worst (ms)"] = max(times) * 1000

        # 20 orders progressing: ordered again and again by the Own CA while keys are pressed.
        stop = asyncio.Event()
        workflow = await app.session.workflow()
        names = app.table.shown[:moving]

        async def progress(i: int, cn: str) -> None:
            # Each order is ordered and collected again every `interval` seconds, staggered,
            # so database writes and events arrive all the time, as with 20 ACME orders.
            await asyncio.sleep(interval * i / moving)
            while not stop.is_set():
                await workflow.place_order(cn, force=True)
                await workflow.complete(cn, timeout=0)
                progressed[0] += 1
                await asyncio.sleep(interval)

        progressed = [0]
        app.table.move_cursor(row=0)  # the moving orders are the rows on screen
        tasks = [asyncio.create_task(progress(i, cn)) for i, cn in enumerate(names)]
        await asyncio.sleep(0.2)
        latencies = []
        for key in ["down"] * 30 + ["up"] * 10:
            row = app.table.cursor_row
            expected = row + 1 if key == "down" else row - 1
            event = events.Key(key, None)
            event.set_sender(app)
            t = time.perf_counter()
            app._driver.send_message(event)  # as the terminal driver delivers a key
            latencies.append(await frames.after(t, lambda e=expected: app.table.cursor_row == e))
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        figures["orders collected meanwhile"] = progressed[0]
        figures["key-to-repaint, median (ms)"] = statistics.median(latencies) * 1000
        figures["key-to-repaint, p95 (ms)"] = sorted(latencies)[int(len(latencies) * 0.95)] * 1000
        await app.close_account()
    figures["peak RSS (MB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--moving", type=int, default=20, help="orders progressing meanwhile")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between their rounds")
    parser.add_argument("--build", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:  # the child that writes the account, so its memory is not counted
        print(build_account(Path(args.build), args.orders))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CERTDESK_HOME"] = str(Path(tmp) / "home")
        t = time.perf_counter()
        child = [sys.executable, __file__, "--orders", str(args.orders), "--build", f"{tmp}/home"]
        directory = Path(subprocess.check_output(child, text=True).strip())
        print(
            f"account with {args.orders} orders written in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        figures = asyncio.run(measure(directory, args.moving, args.interval))
    for name, value in figures.items():
        print(f"{name:38} {value:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
