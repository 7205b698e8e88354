"""The command line: a thin Typer layer over shotcraft.stages."""
