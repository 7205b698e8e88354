"""The library API the CLI calls: sketch, refine, render, compose, status."""
