"""Render backends: what paints plates and sprites. torch is imported only inside diffusers_*."""

from __future__ import annotations

import importlib.util
import sys

from shotcraft.backends.base import Backend, ModelBackend
from shotcraft.backends.procedural import ProceduralBackend
from shotcraft.errors import BackendUnavailable
from shotcraft.spec.model import ModelSpec

DIFFUSION_HINT = "pip install 'shotcraft[diffusion]'  (torch, diffusers, transformers, accelerate)"


def get_backend(
    model: ModelSpec | None, device: str = "auto", *, download: bool = False, verbose: bool = False
) -> Backend:
    """The procedural backend when no model is configured, else the diffusers one, which
    paints the way the model's family (`backends.families`) expects. `download` lets it fetch
    a hub id that is not on this machine; `verbose` lets the libraries' output through."""
    if model is None:
        return ProceduralBackend()
    missing = [name for name in ("torch", "diffusers", "transformers") if not _installed(name)]
    if missing:
        raise BackendUnavailable(
            f"model '{model.id}' needs the diffusion extra, which is not installed "
            f"({missing[0]} is missing); install it with: {DIFFUSION_HINT}"
        )
    from shotcraft.backends.diffusers_t2i import DiffusersBackend

    # torch is imported only when the model is loaded
    return DiffusersBackend(model, device, download=download, verbose=verbose)


class BackendPool:
    """One backend object per model and device for as long as the pool lives (a command, a
    watch session, a server): the estimate, the layers, harmonize and the video pass all use
    the same object, so a model is loaded at most once. A second spec of the same weights
    (another step count, say) borrows the first one's loaded components."""

    def __init__(self, download: bool = False, verbose: bool = False) -> None:
        self._made: dict[tuple[ModelSpec | None, str], Backend] = {}
        self.built = 0  # backend objects made (tests count them)
        self.download = download  # models may be fetched from the hub (`--download`)
        self.verbose = verbose  # the model libraries' output gets through (`--verbose`)

    def get(self, model: ModelSpec | None, device: str = "auto") -> Backend:
        key = (model, device)
        backend = self._made.get(key)
        if backend is None:
            backend = get_backend(model, device, download=self.download, verbose=self.verbose)
            self.built += 1
            if isinstance(backend, ModelBackend):
                for other in self._made.values():
                    if isinstance(other, ModelBackend) and backend.same_weights(other):
                        backend.borrow(other)
                        break
            self._made[key] = backend
        return backend


def _installed(name: str) -> bool:
    """Whether a package can be imported, without importing it (torch takes seconds)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


__all__ = ["Backend", "BackendPool", "ModelBackend", "ProceduralBackend", "get_backend"]
