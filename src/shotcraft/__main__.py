"""`python -m shotcraft` runs the command line."""

from shotcraft.cli import main

main()
