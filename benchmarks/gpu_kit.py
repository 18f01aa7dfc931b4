"""What a lent GPU machine needs for the GPU campaign beyond its own image, made here, and the calls that
carry it there.

    python -m benchmarks.gpu_kit [--kit .gpu-kit]      # then the two device calls it prints

The lent machines (`device`: nvidia-h100-x1, nvidia-h200) hold torch, torchvision, numpy, pandas,
pyarrow, scipy, scikit-learn and more, but not the rest of accelbench's dependencies; they reach no
network, and a call takes at most 64 MiB of files. So this downloads, for their Python (3.12,
manylinux x86-64) and at the versions installed here, the wheels of two sets:

- `campaign`: what the campaign's loader, decode, train and DDP steps import beyond the image;
- `search`: what its proxy_fashion step adds (the proxy search runs through Ray). Ray's wheel
  (77 MB) is carried without its Java jar (32 MB), which Python workers never load.

and copies Fashion-MNIST's four gzipped IDX files (30 MB; `make fashion-mnist`). The search set and
the IDX files do not fit in one call together, so the first call carries the IDX files with the
campaign and leaves them on the machine (an ignored path stays between calls while the machine is
warm, 30 s), and the second carries the search set. Each call's files, with the repository's, are
checked against the limit here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALL_LIMIT_BYTES = 64 * 2**20
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]
SETS = {
    "campaign": ["simplejpeg", "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions"],
    "search": ["ray", "packaging", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "optuna", "alembic", "sqlalchemy", "colorlog", "mako"],
}
DROPPED = {"ray": ("ray/jars/",)}  # Java workers' jar: never loaded by Python workers
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
INSTALL = "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site"


class KitError(Exception):
    """One line: what is missing or too large, and what to do."""


def download(names: list[str], into: Path) -> None:
    """The wheels of `names` at this environment's versions, for the lent machines' Python."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in names]
    except importlib.metadata.PackageNotFoundError as error:
        raise KitError(f"{error.name} is not installed here, so its version is unknown: run `make setup` first") from None
    platforms = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
               *platforms, "-d", str(into), *pins]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise KitError(f"pip download {' '.join(pins)} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")


def trim_wheel(wheel: Path, prefixes: tuple[str, ...]) -> int:
    """Rewrite `wheel` without the files under `prefixes`, and without their lines in its RECORD, so
    that pip installs it as any other; returns the bytes saved."""
    before = wheel.stat().st_size
    with tempfile.NamedTemporaryFile(dir=wheel.parent, suffix=".partial", delete=False) as handle:
        partial = Path(handle.name)
    try:
        with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                if item.filename.startswith(prefixes):
                    continue
                data = source.read(item)
                if re.fullmatch(r"[^/]+\.dist-info/RECORD", item.filename):
                    lines = data.decode().splitlines(keepends=True)
                    data = "".join(line for line in lines if not line.startswith(prefixes)).encode()
                target.writestr(item, data)
        partial.chmod(wheel.stat().st_mode)
        partial.replace(wheel)
    finally:
        partial.unlink(missing_ok=True)
    return before - wheel.stat().st_size


def folder_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def repository_bytes(root: Path) -> int:
    """What a call sends besides `carry`: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root, capture_output=True, check=True).stdout
    return sum((root / name).stat().st_size for name in listed.decode().split("\0") if name and (root / name).is_file())


def calls(kit: Path, root: Path = ROOT) -> list[dict]:
    """The two device calls: what each carries and runs. Each campaign gets SIGINT before its call's limit,
    so that an overrunning step ends with what it saved (the Fashion-MNIST step saves its noise ceiling
    before the candidates) rather than with nothing."""
    relative = kit.resolve().relative_to(root.resolve())
    environment = "export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 &&"
    first = {
        "carry": [f"{relative}/campaign", f"{relative}/fashion-mnist"],
        "command": f"{INSTALL} {relative}/campaign/*.whl && {environment} "
                   "timeout -s INT 400 python3 -m benchmarks.gpu_campaign --out $OUT --steps setup,data,loader,gpu_decode",
        "timeout_s": 420,
    }
    second = {
        "carry": [f"{relative}/campaign", f"{relative}/search"],
        "command": f"test -f {relative}/fashion-mnist/{IDX_FILES[0]} || {{ echo 'the IDX files are not here: a fresh machine; run the first call again'; exit 3; }}; "
                   f"{INSTALL} {relative}/campaign/*.whl {relative}/search/*.whl && {environment} "
                   f"timeout -s INT 560 python3 -m benchmarks.gpu_campaign --out $OUT --steps setup,proxy_fashion --label proxy_fashion "
                   f"--fashion-mnist {relative}/fashion-mnist",
        "timeout_s": 600,
    }
    return [first, second]


def make_kit(kit: Path, fashion_mnist: Path = FASHION_MNIST, root: Path = ROOT) -> list[dict]:
    if root.resolve() not in kit.resolve().parents:
        raise KitError(f"{kit}: the kit must lie inside the repository ({root}) for `carry` to take it; choose a folder there")
    if subprocess.run(["git", "check-ignore", "-q", str(kit.resolve() / "campaign")], cwd=root).returncode != 0:  # a file in it: the folder need not exist yet
        raise KitError(f"{kit}: git does not ignore it, so it would travel with every call; use .gpu-kit (ignored) or add it to .gitignore")
    missing = [name for name in IDX_FILES if not (fashion_mnist / name).is_file()]
    if missing:
        raise KitError(f"{fashion_mnist}: no {', '.join(missing)}; run `make fashion-mnist` (Debian's dataset-fashion-mnist) or pass --fashion-mnist DIR")
    for name, packages in SETS.items():
        for stale in (kit / name).glob("*.whl"):  # an earlier run's, perhaps of other versions: two versions of a package stop pip
            stale.unlink()
        download(packages, kit / name)
        for wheel in (kit / name).glob("*.whl"):
            for package, prefixes in DROPPED.items():
                if wheel.name.startswith(f"{package}-"):
                    saved = trim_wheel(wheel, prefixes)
                    print(f"{wheel.name}: {saved / 2**20:.1f} MiB of {', '.join(prefixes)} left out")
    (kit / "fashion-mnist").mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        shutil.copyfile(fashion_mnist / name, kit / "fashion-mnist" / name)
    plan = calls(kit, root)
    repository = repository_bytes(root)
    for number, call in enumerate(plan, 1):
        size = repository + sum(folder_bytes(root / path) for path in call["carry"])
        call["bytes"] = size
        if size > CALL_LIMIT_BYTES:
            raise KitError(f"call {number} would send {size / 2**20:.1f} MiB (the repository and {', '.join(call['carry'])}); the limit is 64 MiB")
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", default=str(ROOT / ".gpu-kit"), help="folder inside the repository for the wheels and IDX files (git ignores .gpu-kit)")
    parser.add_argument("--fashion-mnist", default=str(FASHION_MNIST), help="folder of Fashion-MNIST's four gzipped IDX files")
    arguments = parser.parse_args(argv)
    try:
        plan = make_kit(Path(arguments.kit), Path(arguments.fashion_mnist))
    except KitError as error:
        print(f"gpu_kit: {error}", file=sys.stderr)
        return 2
    for number, call in enumerate(plan, 1):
        print(f"\ncall {number} ({call['bytes'] / 2**20:.1f} MiB of 64): device run with carry={call['carry']} timeout_s={call['timeout_s']}\n  {call['command']}")
    print("\nMake the second call at once after the first (the machine goes back after 30 s idle), then give_back.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
