"""Where accelbench keeps what it can make again (the embedded dataset, exported ONNX files)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`ACCELBENCH_CACHE`, else `~/.cache/accelbench`."""
    return Path(os.environ.get("ACCELBENCH_CACHE", Path.home() / ".cache" / "accelbench"))
