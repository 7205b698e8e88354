"""Video chunks as units: one process against `--jobs 2` on a tiny random Wan VACE pipeline
(built here, no download), each from a fresh cache. Prints wall seconds and each chunk's.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/video_chunks.py [chunks]

Not part of `make bench`: a tiny model's chunk is short, so this measures what the split
costs around the model calls (worker start, model load per worker, the join) more than what
it saves on them.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(chunks: int = 8) -> None:
    import torch

    torch.set_num_threads(1)
    from tests.integration.test_video_models import shot_text
    from tests.tiny_video_models import build_tiny_wan_vace

    from shotcraft import cost
    from shotcraft.executors.run import ExecutorSpec, render_shots
    from shotcraft.stages.common import Settings, load_context
    from shotcraft.stages.pipeline import Pipeline

    root = Path(tempfile.mkdtemp(prefix="bench-chunks-"))
    try:
        model = build_tiny_wan_vace(root)
        frames = 8 * chunks + 5  # chunks of 13 sharing 5
        video = 'chunk = 13\noverlap = 5\nregenerate = ["fox", "owl"]'
        text = shot_text(model, duration=frames / 16, video=video, steps=4, w=96, h=96)
        shot = root / "v.toml"
        shot.write_text(text)
        cost.calibrate(root / "rates", ("veryfast", "ultrafast", "medium"))
        out = {}
        for name, spec in (("one process", None), ("--jobs 2", ExecutorSpec("local", 2))):
            cache = root / f"cache-{len(out)}"
            cache.mkdir()
            for f in (root / "rates").glob("calibration*.json"):
                shutil.copy(f, cache / f.name)
            s = Settings(project=root / f"p{len(out)}", cache_dir=cache, device="cpu")
            t0 = time.perf_counter()
            if spec is None:
                Pipeline(load_context(shot, s), s).render()
            else:
                render_shots([shot], s, spec)
            wall = time.perf_counter() - t0
            rep = json.loads((root / f"p{len(out)}" / "v" / "render.json").read_text())
            out[name] = {
                "wall_s": round(wall, 2),
                "seconds": rep["seconds"],
                "paint_s": rep["video_pass"]["paint_seconds"],
                "load_s": rep["video_pass"]["load_seconds"],
                "chunks_s": [c["seconds"] for c in rep.get("chunks", [])],
            }
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
