"""`shotcraft mcp`: the server as a subprocess, driven over stdio by the SDK's own client."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import SIMPLE_SHOT

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

TIMEOUT_S = 60
TOOLS = {"sketch", "refine", "estimate", "render", "compose", "status", "cache_stats"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "shots").mkdir(parents=True)
    (r / "shots" / "dot.toml").write_text(SIMPLE_SHOT.format(x0=0.2, x1=0.8))
    return r


def serve(root: Path, cache: Path, body: Callable[[Any], Awaitable[None]]) -> None:
    """Start `shotcraft mcp --root ROOT` and run `body(client)` against it, time-bounded."""
    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k != "SHOTCRAFT_PROJECT"}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "shotcraft", "mcp", "--root", str(root), "--cache", str(cache)],
        env=env,
        cwd=str(root.parent),
    )

    async def main() -> None:
        with anyio.fail_after(TIMEOUT_S):
            async with Client(params, read_timeout_seconds=TIMEOUT_S) as client:
                await body(client)

    anyio.run(main)


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_lists_tools_and_sketch_returns_the_summary_and_the_storyboard(
    root: Path, cache_dir: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    from PIL import Image

    got: dict[str, Any] = {}

    async def body(client: Any) -> None:
        got["tools"] = {t.name for t in (await client.list_tools()).tools}
        got["sketch"] = await client.call_tool("sketch", {"shot": "shots/dot.toml"})
        text = SIMPLE_SHOT.format(x0=0.1, x1=0.9).replace("[shot]", "[shot]\nid = 'fromtext'")
        got["text"] = await client.call_tool("sketch", {"toml": text, "variants": 2})

    serve(root, cache_dir, body)
    assert got["tools"] == TOOLS

    r = got["sketch"]
    assert not r.is_error
    summary = r.structured_content
    assert summary == json.loads(text_of(r))
    # the same summary as the CLI's --json, but for where the files went and the time taken
    board = root / "build" / "dot" / "storyboard.png"
    assert summary["outputs"] == [str(root / "build" / "dot" / "layout.json"), str(board)]
    cli_summary = json.loads(cli("sketch", "--json", root / "shots" / "dot.toml").output)
    for d in (summary, cli_summary):
        d.pop("outputs"), d.pop("seconds")
    assert summary == cli_summary

    images = [c for c in r.content if c.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    png = base64.b64decode(images[0].data)
    assert png == board.read_bytes()
    assert Image.open(io.BytesIO(png)).size == Image.open(board).size

    t = got["text"]
    assert not t.is_error, text_of(t)
    assert t.structured_content["shot_file"] == "shots/fromtext.toml"
    assert (root / "shots" / "fromtext.toml").read_text().startswith("version = 1")
    assert (root / "build" / "fromtext" / "variants" / "sheet.png").is_file()
    assert [c.type for c in t.content] == ["text", "image", "image"]


def test_refuses_a_render_over_its_budget_and_paths_outside_the_root(
    root: Path, cache_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "dot.toml"
    outside.parent.mkdir()
    shutil.copy(root / "shots" / "dot.toml", outside)
    (root / "shots" / "bad.toml").write_text("version = 1\n[shot]\nfps = 0\n")
    got: dict[str, Any] = {}

    async def body(client: Any) -> None:
        got["over"] = await client.call_tool("render", {"shot": "shots/dot.toml", "budget": 0.001})
        got["abs"] = await client.call_tool("sketch", {"shot": str(outside)})
        got["rel"] = await client.call_tool("status", {"shot": "../elsewhere/dot.toml"})
        got["save"] = await client.call_tool(
            "sketch", {"toml": outside.read_text(), "save_as": "../elsewhere/new.toml"}
        )
        got["bad"] = await client.call_tool("sketch", {"shot": "shots/bad.toml"})
        got["estimate"] = await client.call_tool("estimate", {"shot": "shots/dot.toml"})

    serve(root, cache_dir, body)

    over = got["over"]
    assert over.is_error
    data = over.structured_content
    assert data["exit_code"] == 6 and data["meaning"] == "over budget"
    assert "over the budget of 0.001s" in data["error"]
    assert "estimated at" in text_of(over)
    assert data["estimate"]["estimate"]["frames"] == 12
    assert data["estimate"]["estimate"]["seconds"] > 0.001
    assert not (root / "build" / "dot" / "clip.mp4").exists()  # refused before any work

    for key in ("abs", "rel", "save"):
        r = got[key]
        assert r.is_error, key
        assert r.structured_content["exit_code"] == 2
        assert "outside the project root" in text_of(r)
    assert not (tmp_path / "elsewhere" / "new.toml").exists()
    assert not (tmp_path / "elsewhere" / "build").exists()

    bad = got["bad"]
    assert bad.is_error and bad.structured_content["exit_code"] == 3
    assert text_of(bad).startswith(f"error: {root / 'shots' / 'bad.toml'}:")
    assert "shot.fps" in text_of(bad)

    est = got["estimate"].structured_content
    lo, hi = est["range_seconds"]
    assert lo < est["estimate"]["seconds"] < hi


def test_a_render_through_mcp_is_the_clip_the_cli_renders(
    root: Path, cache_dir: Path, cli: Callable[..., Any], project: Path
) -> None:
    from shotcraft.media.probe import frames

    got: dict[str, Any] = {"progress": []}
    reel = "version = 1\n[reel]\nsize = [160, 96]\nfps = 12\n[[clips]]\nshot = 'shots/dot.toml'\n"
    (root / "reel.toml").write_text(reel)

    async def body(client: Any) -> None:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            got["progress"].append((progress, total, message))

        got["render"] = await client.call_tool(
            "render", {"shot": "shots/dot.toml", "budget": 60}, progress_callback=on_progress
        )
        got["refine"] = await client.call_tool("refine", {"shot": "shots/dot.toml"})
        got["compose"] = await client.call_tool("compose", {"reel": "reel.toml", "output": "r.mp4"})
        got["outside"] = await client.call_tool(
            "compose", {"reel": "reel.toml", "output": "../r.mp4"}
        )
        got["stats"] = await client.call_tool("cache_stats", {})

    serve(root, cache_dir, body)
    r = got["render"]
    assert not r.is_error, text_of(r)
    assert r.structured_content["frames"] == 12
    mcp_clip = root / "build" / "dot" / "clip.mp4"

    assert cli("render", root / "shots" / "dot.toml").exit_code == 0
    cli_clip = project / "dot" / "clip.mp4"
    a, b = list(frames(mcp_clip)), list(frames(cli_clip))
    assert len(a) == len(b) == 12
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    progress = got["progress"]
    assert progress, "no progress notifications"
    values = [p for p, _, _ in progress]
    assert values == sorted(set(values))  # always going up
    assert progress[-1][0] == progress[-1][1]  # and ends complete
    assert any("dot: render" in (m or "") for _, _, m in progress)

    refine = got["refine"]
    assert not refine.is_error
    assert [c.type for c in refine.content] == ["text", "image"]  # a sheet of animatic frames
    composed = got["compose"]
    assert not composed.is_error, text_of(composed)
    assert composed.structured_content["frames"] == 12
    assert len(list(frames(root / "r.mp4"))) == 12
    assert got["outside"].is_error and "outside the project root" in text_of(got["outside"])
    assert not (root.parent / "r.mp4").exists()
    kinds = {k["kind"] for k in got["stats"].structured_content["kinds"]}
    assert {"plate", "sprite"} <= kinds
