"""Motion: easing, paths between keys, gaits, camera; per-frame transforms for refine."""
