"""`python -m shotcraft` runs the command line."""

from shotcraft.cli.app import main

main()
