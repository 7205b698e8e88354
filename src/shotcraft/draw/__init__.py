"""Drawing: procedural plates and sprites, the per-frame compositor, storyboards."""
