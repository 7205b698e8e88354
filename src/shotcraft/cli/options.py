"""Options shared by the commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def folder(value: str | Path) -> Path:
    """A folder option (--project, --cache): not empty, and not a file already there."""
    text = str(value)
    if not text.strip():
        raise typer.BadParameter("must name a folder, got an empty string")
    p = Path(text).expanduser()
    if p.exists() and not p.is_dir():
        raise typer.BadParameter(f"'{text}' is a file, not a folder")
    for parent in p.parents:  # a file on the way makes every write below it fail
        if parent.exists():
            if not parent.is_dir():
                raise typer.BadParameter(f"'{parent}' (in '{text}') is a file, not a folder")
            break
    return p


def preset_name(value: str) -> str:
    """--preset: a name (draft, preview, final, one from ./presets/) or a path to a .toml."""
    if not str(value).strip():
        raise typer.BadParameter("must name a preset (draft, preview, final, or a path to a .toml)")
    return str(value)


ShotsArg = Annotated[
    list[Path], typer.Argument(help="Shot files (TOML), processed in order.", show_default=False)
]
ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Project folder for artifacts.",
        envvar="SHOTCRAFT_PROJECT",
        parser=folder,
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="Cache folder (default: $SHOTCRAFT_CACHE, "
        "$XDG_CACHE_HOME/shotcraft or ~/.cache/shotcraft)",
        show_default=False,
        parser=folder,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One machine-readable summary on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Redo the stage even if up to date.")]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="draft | preview | final | a name from ./presets/ or a path to a preset .toml "
        "(default: the shot's preset)",
        show_default=False,
        parser=preset_name,
    ),
]
JobsOpt = Annotated[
    str | None,
    typer.Option(
        "--jobs",
        "-j",
        help="Workers: N, or auto (one per core). Shots render side by side, and a long "
        "shot's segments too (default: 1, in this process; with --executor ray, every CPU "
        "of the cluster).",
        show_default=False,
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local (worker processes here) | ray (Ray tasks and actors; needs shotcraft[ray])",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray for this command)",
        show_default=False,
    ),
]
