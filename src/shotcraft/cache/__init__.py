"""The content-addressed cache shared by every clip and project."""

from shotcraft.cache.store import Cache, default_cache_dir

__all__ = ["Cache", "default_cache_dir"]
