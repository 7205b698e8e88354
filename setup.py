"""Build the optional compositing kernels; everything else is in pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and shotcraft draws with
Pillow and numpy instead (the same pictures, slower; `shotcraft --version` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "shotcraft.draw._kernels",
            ["src/shotcraft/draw/_kernels.c"],
            # wrapping ints stop loops vectorising; no fused multiply-adds, so the float
            # conversions give the same bytes whichever instructions the machine has
            extra_compile_args=["-O3", "-fno-wrapv", "-ffp-contract=off"],
            optional=True,
        )
    ]
)
