from typing import Any

Buffer = Any  # numpy arrays and other writable, C-contiguous buffers

_Affine = tuple[float, float, float, float, float, float]

def sample(
    dst: Buffer,
    dw: int,
    dh: int,
    src: Buffer,
    sw: int,
    sh: int,
    m: _Affine,
    fill: int,
    v0: int,
    v1: int,
) -> None: ...
def over(
    dst: Buffer,
    dw: int,
    dh: int,
    layer: Buffer,
    alpha: Buffer,
    sw: int,
    sh: int,
    m: _Affine,
    v0: int,
    v1: int,
) -> None: ...
def blend(
    frame: Buffer,
    W: int,
    H: int,
    piece: Buffer,
    pw: int,
    ph: int,
    x0: int,
    y0: int,
    opacity: float,
) -> None: ...
def sprite(
    frame: Buffer,
    W: int,
    H: int,
    image: Buffer,
    sw: int,
    sh: int,
    m: _Affine,
    x0: int,
    y0: int,
    x1: int,
    y1: int,
    opacity: float,
) -> None: ...
def to_i420(
    src: Buffer,
    w: int,
    h: int,
    channels: int,
    y: Buffer,
    u: Buffer,
    v: Buffer,
    a: Buffer | None,
    ac: Buffer | None,
) -> None: ...
