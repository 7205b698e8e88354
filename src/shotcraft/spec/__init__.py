"""Shot, reel and preset files: value types and the validating loader."""

from shotcraft.spec.load import load_preset, load_reel, load_shot
from shotcraft.spec.model import Preset, Reel, Shot, Subject

__all__ = ["Preset", "Reel", "Shot", "Subject", "load_preset", "load_reel", "load_shot"]
