"""`shotcraft mcp`: the staged loop as Model Context Protocol tools, served over stdio.

An agent sketches, looks at the storyboard, refines, asks what a render costs and renders
within a budget, the way a person does with the CLI. Every tool returns the CLI's `--json`
summary as structured content (and as JSON text); sketch and refine add a picture. A user
error comes back as a tool error with the CLI's one-line message and exit code. Paths are
confined to the root the server was started with. Built on the official MCP Python SDK (the
`mcp` extra), imported only by this command; every stage call goes through `shotcraft.api`.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations at run time
# to find the Context parameter and build the input schemas.

import base64
import contextlib
import dataclasses
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent

from shotcraft import __version__, api
from shotcraft.errors import OverBudget, ShotcraftError, UsageError
from shotcraft.fsutil import write_bytes
from shotcraft.progress import Advance, _ignore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# What each exit code means, as `shotcraft --help` lists them: a tool error carries both.
EXIT_MEANINGS = {
    1: "unexpected error",
    2: "usage",
    3: "invalid shot or reel file",
    4: "backend unavailable",
    5: "render failed",
    6: "over budget",
    7: "an input is missing",
    130: "interrupted",
}
PROGRESS_EVERY_S = 0.1  # a notification at most this often (and at the end of each task)

INSTRUCTIONS = """\
shotcraft turns TOML shot files into video clips in stages of rising cost: sketch (a layout and
a storyboard image, milliseconds), refine (every frame's motion and an animatic, seconds),
render (the clip: seconds to hours) and compose (a reel of clips). Sketch and look at the
storyboard, refine and look at the animatic frames, call estimate, then render with a budget in
seconds. Paths are relative to the project root the server was started with."""


class _Reporter:
    """The stage library's reporter: words to stderr (never stdout, which is the protocol),
    progress to the client as notifications that only ever go up within one call."""

    def __init__(self, send: Callable[[float, float, str], None] | None) -> None:
        self._send = send
        self.done_before = 0  # work finished in this call's earlier tasks
        self.sent = -1.0

    def send(self, progress: float, total: float, message: str) -> None:
        if self._send is not None and progress > self.sent:  # the protocol: always up
            self.sent = progress
            self._send(progress, total, message)

    def info(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        send = self.send
        if self._send is None or total <= 0:
            yield _ignore
            return
        base, done, last = self.done_before, 0, 0.0

        def advance(n: int = 1) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if done >= total or now - last >= PROGRESS_EVERY_S:
                last = now
                send(base + done, base + total, label)

        send(base, base + total, label)
        try:
            yield advance
        finally:
            self.done_before = base + total


def _error_result(e: BaseException, extra: dict[str, Any] | None = None) -> CallToolResult:
    if isinstance(e, ShotcraftError):
        lines, code = e.lines(), e.exit_code
    else:  # a bug: the traceback goes to the server's stderr, the gist to the agent
        traceback.print_exc(file=sys.stderr)
        lines = [
            f"shotcraft hit an unexpected error (a bug): {type(e).__name__}: {e}; "
            "the traceback is in the server's log"
        ]
        code = 1
    data = {
        "error": "\n".join(lines),
        "exit_code": code,
        "meaning": EXIT_MEANINGS.get(code, "error"),
        **(extra or {}),
    }
    text = (
        "\n".join(f"error: {line}" for line in lines) + f"\n(exit code {code}: {data['meaning']})"
    )
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=data, is_error=True
    )


def _png(data: bytes) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/png")


def _ok(summary: dict[str, Any], images: list[bytes] | None = None) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=json.dumps(summary))]
    content += [_png(b) for b in images or []]
    return CallToolResult(content=content, structured_content=summary)


class Project:
    """The server's state: the root paths are confined to, the settings, one call at a time."""

    def __init__(self, root: Path, settings: Any) -> None:
        self.root = root.resolve()
        self.settings = settings
        self.lock = threading.Lock()  # stages of one project write the same files
        self.written: set[Path] = set()  # shot files this server saved from shot text

    def inside(self, name: str, what: str = "file") -> Path:
        """`name` (relative to the root, or absolute) if it is under the root."""
        p = Path(name).expanduser()
        p = (p if p.is_absolute() else self.root / p).resolve()
        if not p.is_relative_to(self.root):
            raise UsageError(
                f"{name}: the {what} is outside the project root {self.root}; this server only "
                "reads and writes under its --root"
            )
        return p

    def shot(self, name: str) -> Path:
        path = self.inside(name, "shot")
        for asset in api.assets(path, self.settings):
            if not asset.is_relative_to(self.root):
                raise UsageError(f"{name}: the asset {asset} is outside the project root")
        return path

    def reel(self, name: str) -> Path:
        path = self.inside(name, "reel")
        for f in api.reel_inputs(path):
            if not f.is_relative_to(self.root):
                raise UsageError(f"{name}: {f} is outside the project root {self.root}")
        return path

    def save_shot_text(self, text: str, save_as: str | None, overwrite: bool) -> Path:
        """Write shot TOML text to a file under the root (default shots/<shot.id>.toml)."""
        if save_as is None:
            try:
                sid = str(tomllib.loads(text).get("shot", {}).get("id", "untitled"))
            except (tomllib.TOMLDecodeError, AttributeError):
                sid = "untitled"  # the loader will say what is wrong with it, by line
            save_as = f"shots/{sid}.toml"
        path = self.inside(save_as, "shot")
        if path.suffix != ".toml":
            raise UsageError(f"save_as: {save_as}: a shot file ends in .toml")
        ours = path in self.written or overwrite
        if not ours and path.exists() and path.read_text(errors="replace") != text:
            raise UsageError(
                f"{save_as}: a different shot file is already there; pass overwrite=true "
                "to replace it, or another save_as"
            )
        write_bytes(path, text.encode())
        self.written.add(path)
        return path

    def settings_for(self, ctx: Context | None, **changes: Any) -> Any:
        send = None
        if ctx is not None:

            def send(progress: float, total: float, message: str) -> None:
                anyio.from_thread.run(ctx.report_progress, progress, total, message)

        fields = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self.settings, reporter=_Reporter(send), **fields)

    def call(self, fn: Callable[[], CallToolResult]) -> CallToolResult:
        with self.lock:
            try:
                return fn()
            except Exception as e:  # every failure becomes a tool error, bugs included
                return _error_result(e)


def build_server(root: Path, settings: Any) -> MCPServer:
    """The MCP server with shotcraft's tools over the project at `root`."""
    proj = Project(root, settings)
    server = MCPServer("shotcraft", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    def sketch(
        ctx: Context,
        shot: str | None = None,
        toml: str | None = None,
        variants: int = 0,
        save_as: str | None = None,
        overwrite: bool = False,
        preset: str | None = None,
        force: bool = False,
    ) -> CallToolResult:
        """Plan a shot's layout (layout.json), draw its storyboard and estimate its render.

        Give `shot`, a shot file's path under the root, or `toml`, the shot file's text,
        which is saved under the root first (to `save_as`, default shots/<shot.id>.toml;
        asset paths in it are relative to that file). `variants` > 0 also makes that many
        alternative layouts (pick one with refine). Returns the summary and the storyboard
        image (and the variants' contact sheet)."""

        def run() -> CallToolResult:
            if (shot is None) == (toml is None):
                raise UsageError("sketch takes one of `shot` (a path) or `toml` (shot text)")
            path = proj.shot(shot) if shot is not None else None
            if path is None:
                path = proj.shot(str(proj.save_shot_text(str(toml), save_as, overwrite)))
            s = proj.settings_for(ctx, preset=preset, force=force)
            summary = api.sketch(path, s, variants)
            if toml is not None:
                summary["shot_file"] = str(path.relative_to(proj.root))
            arts = api.artifacts(path, s)
            images = [arts.storyboard.read_bytes()]
            if variants:
                images.append(arts.contact_sheet.read_bytes())
            return _ok(summary, images)

        return proj.call(run)

    @server.tool()
    def refine(
        ctx: Context,
        shot: str,
        pick: int | None = None,
        controls: bool = False,
        preset: str | None = None,
        force: bool = False,
    ) -> CallToolResult:
        """Plan every frame's motion (motion.json) and make the animatic (sketching first if
        the layout is stale). `pick` commits to variant K of sketch (0 = the base layout).
        Returns the summary and a contact sheet of animatic frames."""

        def run() -> CallToolResult:
            path = proj.shot(shot)
            s = proj.settings_for(ctx, preset=preset, force=force)
            summary = api.refine(path, s, pick, controls)
            return _ok(summary, [api.animatic_sheet(path, s)])

        return proj.call(run)

    @server.tool()
    def estimate(
        ctx: Context,
        shot: str,
        pick: int | None = None,
        preset: str | None = None,
        measure_model: bool = False,
    ) -> CallToolResult:
        """What rendering the shot would cost, in seconds, with a range, without rendering.
        With `measure_model`, a model this machine has not timed yet is loaded and timed once
        (otherwise its time is left out, and the summary says so)."""

        def run() -> CallToolResult:
            s = proj.settings_for(ctx, preset=preset)
            return _ok(api.estimate(proj.shot(shot), s, pick, measure_model))

        return proj.call(run)

    @server.tool()
    def render(
        ctx: Context,
        shot: str,
        budget: float,
        preset: str | None = None,
        force: bool = False,
    ) -> CallToolResult:
        """Render the clip (clip.mp4, render.json), refining and sketching first if stale.
        Refused before any work when the estimate is over `budget` seconds (exit code 6, with
        the estimate). Sends progress notifications while it paints and renders."""

        def run() -> CallToolResult:
            path = proj.shot(shot)
            s = proj.settings_for(ctx, preset=preset, force=force)
            try:
                return _ok(api.render(path, s, budget))
            except OverBudget as e:
                return _error_result(e, {"estimate": api.estimate(path, s)})

        return proj.call(run)

    @server.tool()
    def compose(
        ctx: Context,
        reel: str,
        output: str | None = None,
        format: str | None = None,
        strict: bool = False,
        render_missing: bool = False,
    ) -> CallToolResult:
        """Join a reel's rendered clips (cuts copied, transitions encoded) into one video:
        `output` (.mp4, .mov or .webm; default <project>/<reel id>.mp4)."""

        def run() -> CallToolResult:
            path = proj.reel(reel)
            out = None if output is None else proj.inside(output, "output")
            s = proj.settings_for(ctx)
            return _ok(api.compose(path, s, out, format, strict, render_missing))

        return proj.call(run)

    @server.tool()
    def status(shot: str) -> CallToolResult:
        """Which of the shot's stages are up to date, stale (and what changed) or missing,
        and the render estimate."""
        return proj.call(lambda: _ok(api.status(proj.shot(shot), proj.settings_for(None))))

    @server.tool()
    def cache_stats() -> CallToolResult:
        """The shared cache: entries, sizes, hits and misses by kind."""
        return proj.call(lambda: _ok(api.cache_stats(proj.settings_for(None))))

    return server


def serve(root: Path, project: Path | None, cache: Path | None, device: str = "auto") -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"--root {root}: not a folder")
    # the folders given on the command line are relative to where it was typed
    project = root / "build" if project is None else Path(project).resolve()
    cache = None if cache is None else Path(cache).resolve()
    # a project's own presets/ are found from the working folder, as in the CLI
    os.chdir(root)
    settings = api.make_settings(project, cache, device=device)
    build_server(root, settings).run("stdio")
