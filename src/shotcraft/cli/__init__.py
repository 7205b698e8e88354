"""The command line: a thin Typer layer over shotcraft.stages."""

import os

# numpy's OpenBLAS starts a thread per core at its first matrix call, and those threads spin
# for a while after each one. shotcraft only ever solves 3x3 matrices with it; its parallel
# work is its own drawing threads and the encoder's, which the spinning would take CPU from.
# Set before anything imports numpy; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
