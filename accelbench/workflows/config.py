"""Sweep presets: a TOML file (or the name of one in `accelbench/workflows/configs/`) -> a validated `Sweep`."""

from __future__ import annotations

from pathlib import Path

from accelbench.pipeline.sweep import ConfigError, Sweep
from accelbench.common.toml import read_toml

PRESETS_DIR = Path(__file__).parent / "configs"


def presets() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml"))


def _read(name_or_path: str | Path) -> tuple[dict, Path]:
    path = Path(name_or_path)
    if not path.exists() and (PRESETS_DIR / f"{name_or_path}.toml").exists():
        path = PRESETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(f"config {name_or_path!r} is neither a file nor a preset; presets are {', '.join(presets())}")
    return read_toml(path, ConfigError, str(path)), path


def load_sweep(name_or_path: str | Path) -> Sweep:
    values, path = _read(name_or_path)
    return Sweep.from_dict(values, source=str(path), base_dir=path.parent)


def load_proxy_config(name_or_path: str | Path):
    from accelbench.proxy.config import parse_proxy_config

    values, path = _read(name_or_path)
    return parse_proxy_config(values, source=str(path), base_dir=path.parent)
