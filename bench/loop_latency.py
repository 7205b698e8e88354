"""The quick loop's latency: a save to `sketch --watch`'s line, and MCP calls over stdio.

Run: .venv/bin/python bench/loop_latency.py  (needs the mcp extra; about 10 s)
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

SHOT = """\
version = 1
[shot]
duration = 1.0
fps = 12
size = [160, 96]
seed = {seed}
[background]
style = "solid"
colors = ["#202020"]
[[subjects]]
id = "dot"
shape = "box"
color = "#00c000"
height = 0.3
keys = [ {{ t = 0.0, at = [0.2, 0.65] }}, {{ t = 1.0, at = [0.8, 0.65] }} ]
"""


def watch_latency(root: Path, saves: int = 8) -> list[float]:
    shot = root / "shots" / "dot.toml"
    cmd = [sys.executable, "-m", "shotcraft", "sketch", "--watch", str(shot)]
    proc = subprocess.Popen(
        [*cmd, "--project", str(root / "build")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the first run
    time.sleep(1.0)  # the watcher is set up
    times = []
    for i in range(saves):
        t0 = time.perf_counter()
        tmp = shot.with_suffix(".tmp")
        tmp.write_text(SHOT.format(seed=10 + i))
        os.replace(tmp, shot)
        proc.stdout.readline()
        times.append(time.perf_counter() - t0)
    proc.send_signal(signal.SIGINT)
    proc.wait(10)
    return times


async def mcp_calls(root: Path) -> dict[str, float]:
    from mcp import Client, StdioServerParameters

    args = ["-m", "shotcraft", "mcp", "--root", str(root)]
    out = {}
    t0 = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=args)) as client:
        out["start and initialize"] = time.perf_counter() - t0
        for name, tool, arguments in [
            ("first sketch", "sketch", {"shot": "shots/dot.toml", "force": True}),
            ("warm sketch", "sketch", {"shot": "shots/dot.toml", "force": True}),
            ("estimate", "estimate", {"shot": "shots/dot.toml"}),
        ]:
            t0 = time.perf_counter()
            await client.call_tool(tool, arguments)
            out[name] = time.perf_counter() - t0
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "shots").mkdir()
        (root / "shots" / "dot.toml").write_text(SHOT.format(seed=3))
        times = watch_latency(root)
        print(
            f"sketch --watch, save to line: median {statistics.median(times):.3f}s, "
            f"max {max(times):.3f}s over {len(times)} saves"
        )
        for name, secs in anyio.run(mcp_calls, root).items():
            print(f"mcp {name}: {secs:.3f}s")


if __name__ == "__main__":
    main()
