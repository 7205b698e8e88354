"""`python -m shotcraft` runs the command line."""

from shotcraft.cli import main

# guarded: worker processes (--jobs) import the main module again and must not run it
if __name__ == "__main__":
    main()
