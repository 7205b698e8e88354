"""Render backends: what paints plates and sprites. torch is imported only inside diffusers_*."""

from __future__ import annotations

from shotcraft.backends.base import Backend
from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.errors import BackendUnavailable
from shotcraft.spec.model import ModelSpec

DIFFUSION_HINT = "pip install 'shotcraft[diffusion]'  (torch, diffusers, transformers, accelerate)"


def get_backend(model: ModelSpec | None, device: str = "auto") -> Backend:
    """The procedural backend when no model is configured, else the diffusers one."""
    if model is None:
        return ProceduralBackend()
    import time

    t0 = time.perf_counter()
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(
            f"model '{model.id}' needs the diffusion extra, which is not installed "
            f"({e.name} is missing); install it with: {DIFFUSION_HINT}"
        ) from None
    from shotcraft.backends.diffusers_t2i import DiffusersBackend

    backend = DiffusersBackend(model, device)
    backend.load_seconds = time.perf_counter() - t0  # the imports: real only the first time
    return backend


__all__ = ["Backend", "ProceduralBackend", "get_backend"]
