"""Video in and out with PyAV: threaded encoding, decoding, probing, reels."""
