"""`shotcraft cache ...`: list, count, verify and trim the shared cache."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer

from shotcraft.cli.options import CacheOpt, JsonOpt
from shotcraft.cli.output import Output, user_errors
from shotcraft.errors import UsageError

app = typer.Typer(
    help="Inspect and maintain the shared content-addressed cache.", no_args_is_help=True
)


def _cache(path: Path | None):
    from shotcraft.cache import Cache, default_cache_dir

    return Cache(default_cache_dir(path))


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise UsageError(f"--max-size: '{text}' is not a size (examples: 500M, 2G, 100000)")
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[m.group(2)]
    return int(float(m.group(1)) * mult)


def parse_age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise UsageError(f"--older-than: '{text}' is not an age (examples: 30d, 12h, 90m)")
    mult = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * mult


@app.command("ls")
@user_errors
def ls(cache: CacheOpt = None, json_: JsonOpt = False) -> None:
    """List entries: key, kind, size, when made, by what, and what it cost."""
    out = Output(False, json_)
    entries = sorted(_cache(cache).entries(), key=lambda e: e.created)
    if json_:
        out.emit_json(
            [
                {
                    "key": e.key,
                    "kind": e.kind,
                    "size": e.size,
                    "created": e.created,
                    "last_used": e.last_used,
                    "producer": e.producer,
                    "seconds": e.seconds,
                }
                for e in entries
            ]
        )
        return
    from rich import box
    from rich.table import Column, Table

    table = Table(
        Column("key", no_wrap=True),  # the first 12 hex digits: enough to tell them apart
        Column("kind", no_wrap=True),
        Column("size", justify="right", no_wrap=True),
        Column("created", no_wrap=True),
        Column("producer", no_wrap=True, overflow="ellipsis"),
        Column("cost", justify="right", no_wrap=True),
        box=box.SIMPLE_HEAD,  # one line an entry in 80 columns
        pad_edge=False,
    )
    for e in entries:
        table.add_row(
            e.key[:12],
            e.kind,
            human_size(e.size),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created)),
            e.producer,
            f"{e.seconds:.2f}s",
        )
    out.out.print(table)
    out.result(f"{len(entries)} entries, {human_size(sum(e.size for e in entries))}")


@app.command()
@user_errors
def stats(cache: CacheOpt = None, json_: JsonOpt = False) -> None:
    """Totals by kind and hit rates since the cache was made."""
    from shotcraft import api

    out = Output(False, json_)
    summary = api.cache_stats(api.make_settings(cache=cache))
    rows = summary["kinds"]
    if json_:
        out.emit_json(summary)
        return
    from rich.table import Table

    table = Table("kind", "entries", "size", "hits", "misses", "hit rate")
    for r in rows:
        rate = f"{100 * r['hit_rate']:.0f}%" if r["hit_rate"] is not None else "-"
        table.add_row(
            r["kind"],
            str(r["entries"]),
            human_size(r["size"]),
            str(r["hits"]),
            str(r["misses"]),
            rate,
        )
    out.out.print(table)
    out.result(f"cache: {summary['root']}")


@app.command()
@user_errors
def verify(cache: CacheOpt = None, json_: JsonOpt = False) -> None:
    """Re-hash every entry; drop corrupt ones (exit 1 if any were found)."""
    out = Output(False, json_)
    report = _cache(cache).verify(repair=True)
    out.emit_json(
        {
            "checked": report.checked,
            "corrupt": list(report.corrupt),
            "removed": list(report.removed),
        }
    )
    for key in report.corrupt:
        out.warn(f"corrupt entry {key[:16]} removed (it will be made again when needed)")
    out.result(f"checked {report.checked} entries, {len(report.corrupt)} corrupt")
    if report.corrupt:
        raise typer.Exit(1)


@app.command()
@user_errors
def gc(
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            help="Evict least recently "
            "used entries until the cache is at most this big (500M, 2G).",
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Evict entries unused for this long (30d, 12h)."),
    ] = None,
    cache: CacheOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Evict entries by last use."""
    out = Output(False, json_)
    if max_size is None and older_than is None:
        raise UsageError("cache gc needs --max-size and/or --older-than")
    evicted = _cache(cache).gc(
        parse_size(max_size) if max_size else None, parse_age(older_than) if older_than else None
    )
    freed = sum(e.size for e in evicted)
    out.emit_json({"evicted": [e.key for e in evicted], "freed": freed})
    out.result(f"evicted {len(evicted)} entries, freed {human_size(freed)}")
