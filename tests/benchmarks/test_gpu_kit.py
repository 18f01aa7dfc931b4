"""The GPU kit (benchmarks.gpu_kit) without a network: trimming a wheel that pip then installs, the
two calls' plan, and its refusals."""

import subprocess
import sys
import zipfile

import pytest

from benchmarks import gpu_kit


def write_wheel(path, files: dict[str, bytes]) -> None:
    info = "tiny-1.0.dist-info"
    files = {**files, f"{info}/METADATA": b"Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n",
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", record)


def test_a_trimmed_wheel_installs_without_the_dropped_files(tmp_path):
    wheel = tmp_path / "tiny-1.0-py3-none-any.whl"
    write_wheel(wheel, {"tiny/__init__.py": b"VALUE = 7\n", "tiny/jars/java.jar": b"x" * 200_000, "tiny/jarsfile.py": b""})
    saved = gpu_kit.trim_wheel(wheel, ("tiny/jars/",))
    assert saved > 0
    with zipfile.ZipFile(wheel) as trimmed:
        names = trimmed.namelist()
        record = trimmed.read("tiny-1.0.dist-info/RECORD").decode()
    assert "tiny/jars/java.jar" not in names and "tiny/jars/" not in record
    assert "tiny/jarsfile.py" in names and "tiny/jarsfile.py" in record  # a prefix of a folder, not of a name
    assert not list(tmp_path.glob("*.partial"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target), str(wheel)], check=True)
    assert (target / "tiny" / "__init__.py").read_text() == "VALUE = 7\n" and not (target / "tiny" / "jars").exists()


def test_the_first_call_leaves_the_idx_files_for_the_second(tmp_path):
    first, second = gpu_kit.calls(gpu_kit.ROOT / ".gpu-kit")
    assert first["carry"] == [".gpu-kit/campaign", ".gpu-kit/fashion-mnist"]
    assert second["carry"] == [".gpu-kit/campaign", ".gpu-kit/search"]
    assert "--steps setup,data,loader,gpu_decode" in first["command"]
    assert "--steps setup,proxy_fashion --label proxy_fashion --fashion-mnist .gpu-kit/fashion-mnist" in second["command"]
    assert second["command"].startswith("test -f .gpu-kit/fashion-mnist/train-images-idx3-ubyte.gz ||")
    for call in (first, second):  # SIGINT at least 20 s before the call's limit: the campaign saves and ends
        interrupt = int(call["command"].split("timeout -s INT ")[1].split()[0])
        assert call["timeout_s"] <= 600 and interrupt <= call["timeout_s"] - 20 and len(call["command"]) <= 2000  # the device tool's limits


@pytest.fixture
def repository(tmp_path):
    """A repository of one 1,000-byte file, and a folder of four small IDX files beside it."""
    root = tmp_path / "repository"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "code.py").write_bytes(b"#" * 1000)
    (root / ".gitignore").write_text(".gpu-kit/\n")
    idx = tmp_path / "idx"
    idx.mkdir()
    for name in gpu_kit.IDX_FILES:
        (idx / name).write_bytes(b"\0" * 1000)
    return root, idx


def test_the_kit_refuses_a_folder_outside_the_repository_and_missing_idx_files(repository, tmp_path, capsys):
    root, idx = repository
    assert gpu_kit.main(["--kit", str(tmp_path / "kit")]) == 2
    assert "must lie inside the repository" in capsys.readouterr().err
    with pytest.raises(gpu_kit.KitError, match=r"no train-images-idx3-ubyte.gz, .*; run `make fashion-mnist`"):
        gpu_kit.make_kit(root / ".gpu-kit", tmp_path, root)
    with pytest.raises(gpu_kit.KitError, match=r"git does not ignore it, so it would travel with every call"):
        gpu_kit.make_kit(root / "kit", idx, root)
    assert not (root / ".gpu-kit").exists() and not (root / "kit").exists()


def test_each_call_is_measured_with_the_repository_against_the_limit(repository, monkeypatch):
    root, idx = repository

    def download(names, into):
        into.mkdir(parents=True, exist_ok=True)
        (into / "a-1.0-py3-none-any.whl").write_bytes(b"w" * 100)

    monkeypatch.setattr(gpu_kit, "download", download)
    (root / ".gpu-kit" / "search").mkdir(parents=True)
    (root / ".gpu-kit" / "search" / "a-0.9-py3-none-any.whl").write_bytes(b"old" * 100)  # an earlier run's version
    plan = gpu_kit.make_kit(root / ".gpu-kit", idx, root)
    assert [path.name for path in (root / ".gpu-kit" / "search").iterdir()] == ["a-1.0-py3-none-any.whl"]
    repository_size = 1000 + len(".gpu-kit/\n")  # the kit itself is ignored
    assert [call["bytes"] for call in plan] == [repository_size + 100 + 4000, repository_size + 100 + 100]
    assert sorted(path.name for path in (root / ".gpu-kit" / "fashion-mnist").iterdir()) == sorted(gpu_kit.IDX_FILES)
    monkeypatch.setattr(gpu_kit, "CALL_LIMIT_BYTES", repository_size + 4000)
    with pytest.raises(gpu_kit.KitError, match=r"call 1 would send .* the limit is 64 MiB"):
        gpu_kit.make_kit(root / ".gpu-kit", idx, root)
