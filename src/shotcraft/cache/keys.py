"""Cache keys: sha256 of the canonical JSON of everything that changes the pixels."""

from __future__ import annotations

import hashlib
from typing import Any

from shotcraft.fsutil import canonical_json, file_digest

__all__ = ["KEY_SCHEMA", "cache_key", "file_digest"]

KEY_SCHEMA = 1


def cache_key(spec: dict[str, Any]) -> str:
    """The key of an entry; `spec` must hold only what changes the bytes (no names, no paths)."""
    full = {"key_schema": KEY_SCHEMA, **spec}
    return hashlib.sha256(canonical_json(full)).hexdigest()
