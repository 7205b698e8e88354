"""Layout planning: place hints into positions, variants of a layout."""
