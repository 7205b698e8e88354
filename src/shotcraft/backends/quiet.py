"""Library output off while a model loads and paints: diffusers', transformers' and the hub's
progress bars, log lines and warnings are not for the user (our own progress shows the
denoising); `--verbose` lets them through."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

NOISY_LOGGERS = ("diffusers", "transformers", "huggingface_hub", "accelerate", "torch")


def quiet_environment() -> None:
    """The libraries' own switches for their output, read when they are first imported (so
    set before that: see `DiffusersBackend` importing them)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextlib.contextmanager
def library_output(verbose: bool) -> Iterator[None]:
    """Silence the libraries inside this block (torch and diffusers are imported in it)."""
    if verbose:
        yield
        return
    quiet_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
        with contextlib.suppress(ImportError):
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        yield
