"""Every bad input and fault a new user met (issue 9), as a table: the command, its exit code, the words
its one-line message must hold, and that nothing outside the command's own output was created, changed
or deleted. Each case runs the real CLI in a fresh copy of a sandbox holding a store of reference
records, a fit, a release, an unrelated folder and a plain file."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accelbench.surrogate.manifest import release_digest, sha256_of
from accelbench.workflows.cli import main

LIGHT_FIT = ["--targets", "val_top1", "--models", "linear", "--members", "1"]
RELEASE = "release-base/r-1"


@pytest.fixture(scope="module")
def base(anb_records, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("base")
    records = root / "records"
    records.mkdir()
    for record in anb_records[:300]:
        (records / record.name).write_text(json.dumps(record.data))
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        assert main(["import-anb", str(records), "--store", str(root / "store")]) == 0
        assert main(["fit", "--store", str(root / "store"), "--out", str(root / "fit"), *LIGHT_FIT]) == 0
        assert main(["release", "--store", str(root / "store"), "--name", "r", "--version", "1", "--out", str(root / "release-base"), *LIGHT_FIT]) == 0
        assert main(["space", "sample", "--n", "2", "--seed", "1", "--output", str(root / "a.jsonl")]) == 0
    shutil.rmtree(records)
    (records).mkdir()
    for record in anb_records[:3]:
        (records / record.name).write_text(json.dumps(record.data))
    (root / "notes").mkdir()
    (root / "notes" / "notes.txt").write_text("a user's own file")
    (root / "afile").write_text("a plain file")
    return root


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: its kind, mode and content (or link target)."""
    entries = {}
    for root, directories, names in os.walk(folder):
        for name in directories + names:
            path = Path(root) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries[str(path.relative_to(folder))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[str(path.relative_to(folder))] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                entries[str(path.relative_to(folder))] = ("file", stat.S_IMODE(info.st_mode), sha256_of(path))
    return entries


def outside(changed: set[str], output: str | None) -> set[str]:
    if output is None:
        return changed
    return {path for path in changed if path != output and not path.startswith(output + "/")}


# --- what the cases prepare in their copy of the sandbox ---
def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    result = change(data)
    path.write_text(json.dumps(data if result is None else result))


def record_with(sandbox: Path, **changes) -> None:
    source = next((sandbox / "records").glob("result_*.json"))
    data = json.loads(source.read_text())
    data.update(changes)
    (sandbox / "records" / "result_999.json").write_text(json.dumps(data))


def truncated_tarball(sandbox: Path) -> None:
    with tarfile.open(sandbox / "bad.tar.gz", "w:gz") as archive:
        archive.add(sandbox / "records", arcname="records")
    data = (sandbox / "bad.tar.gz").read_bytes()
    (sandbox / "bad.tar.gz").write_bytes(data[: len(data) // 2])


def truncate_a_record_file(sandbox: Path) -> None:
    victim = sorted((sandbox / "store" / "profile").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-20])


def truncate_train(sandbox: Path) -> None:
    victim = next((sandbox / "store" / "train").glob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])


def train_file() -> str:
    return str(next(Path("store/train").glob("*.parquet")))


def huge_integer_line(sandbox: Path) -> None:
    line = json.loads((sandbox / "a.jsonl").read_text().splitlines()[0])
    text = json.dumps(line)
    key = next(iter(line))
    (sandbox / "big.jsonl").write_text(text.replace(f'"{key}": {json.dumps(line[key])}', f'"{key}": {"9" * 5000}', 1) + "\n")


def member(sandbox: Path, **changes) -> None:
    edit_json(sandbox / "fit" / "models" / "val_top1" / "member0.json", lambda m: m.update(changes))


def fit_of_other_records(sandbox: Path) -> None:
    """A fit (recording its records) of a copy of the store that lacks one profile file."""
    shutil.copytree(sandbox / "store", sandbox / "other")
    next((sandbox / "other" / "profile").glob("*.parquet")).unlink()
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        assert main(["fit", "--store", "other", *LIGHT_FIT, "--out", "f2"]) == 0


def foreign_parquet(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)


def config(sandbox: Path, name: str = "ok", data: str | None = None) -> None:
    training = f'\n[training]\nrecipe = "smoke"\ndata = "{data}"\n' if data else ""
    cache = sandbox.parent / "onnx-cache"  # outside the sandbox: not the command's output
    (sandbox / "sweep.toml").write_text(
        f'name = "{name}"\n[architectures]\nsample = 1\nseed = 3\n{training}\n[profiling]\ncache = "{cache}"\n'
        '[[profiling.targets]]\nname = "cpu"\nbackend = "onnxruntime"\nresolution = 32\noptions = { sessions = 1, repeats = 3, min_time_s = 0.02, max_other_load = 1.0 }\n'
    )


def edit_release_file(sandbox: Path) -> None:
    """A file changed, and its hash in the manifest changed to match."""
    folder = sandbox / RELEASE
    (folder / "configspace.json").write_text("{}")
    edit_json(folder / "manifest.json", lambda m: m["files"].__setitem__("configspace.json", sha256_of(folder / "configspace.json")))


@dataclass
class Case:
    name: str
    args: list[str] | Callable[[Path], list[str]]
    exit: int
    words: tuple[str, ...]
    output: str | None = None  # the command's own output: the only path that may change
    prepare: Callable[[Path], None] = lambda sandbox: None
    needs_ray: bool = False
    keep: tuple[str, ...] = field(default=())  # paths that must still exist afterwards


FIT = ["fit", "--store", "store", *LIGHT_FIT, "--out"]
QUERY = ["query", "--surrogates", "fit", "--input", "a.jsonl", "--output", "q.csv"]
FIT_INDEX = "fit/surrogates.json"
CASES = [
    # --- nothing lost, nothing overwritten ---
    Case("fit onto the store", FIT + ["store"], 2, ("is the store",)),
    Case("fit onto the current directory", FIT + ["."], 2, ("current directory",)),
    Case("fit onto a folder above the store", ["fit", "--store", "lab/store", *LIGHT_FIT, "--out", "lab"], 2, ("inside it or above it",),
         prepare=lambda s: (s / "lab").mkdir() or shutil.move(s / "store", s / "lab" / "store")),
    Case("fit onto an unrelated folder", FIT + ["notes"], 2, ("not empty", "nothing there is deleted")),
    Case("fit onto a file", FIT + ["afile"], 2, ("is a file",)),
    Case("fit replaces its own earlier output", FIT + ["fit"], 0, (), output="fit"),
    Case("fit onto its earlier output holding a user's file", FIT + ["fit"], 2, ("not empty",),
         prepare=lambda s: (s / "fit" / "mine.txt").write_text("mine")),
    Case("export onto the store", ["export-anb", "store", "store"], 2, ("is the store",)),
    Case("export onto an unrelated folder", ["export-anb", "store", "notes"], 2, ("not empty",)),
    Case("export into a new folder", ["export-anb", "store", "out"], 0, (), output="out"),
    Case("import a device name with a slash", ["import-anb", "records", "--store", "new"], 2, ("latency_a/b", "not allowed"),
         prepare=lambda s: record_with(s, platform_perf={"latency_a/b": {"latency_mean": 1.0, "latency_std": 0.1}})),
    Case("import a truncated tarball", ["import-anb", "bad.tar.gz", "--store", "new"], 2, ("damaged or cut short",), prepare=truncated_tarball),
    Case("import metrics of the wrong shape", ["import-anb", "records", "--store", "new"], 2, ("'metrics' must be an object",),
         prepare=lambda s: record_with(s, metrics=[1, 2])),
    Case("import platform_perf of the wrong shape", ["import-anb", "records", "--store", "new"], 2, ("platform_perf.latency_zcu102 must be an object",),
         prepare=lambda s: record_with(s, platform_perf={"latency_zcu102": 3.0})),
    Case("import into a foreign folder", ["import-anb", "records", "--store", "notes"], 2, ("not an accelbench store",)),
    Case("a sweep name that escapes the store", ["collect", "sweep.toml"], 2, ("name='../../x' is not allowed",),
         prepare=lambda s: config(s, name="../../x")),
    Case("a release name that escapes", ["release", "--store", "store", "--name", "../x", "--version", "1", "--out", "rel"], 2, ("--name='../x' is not allowed",)),
    Case("a release that exists", ["release", "--store", "store", "--name", "r", "--version", "1", "--out", "release-base"], 2, ("never overwritten",)),
    Case("a release inside the store", ["release", "--store", "store", "--name", "r", "--version", "2", "--out", "store"], 2, ("is the store",)),
    # --- one line, never a traceback ---
    Case("--output is a folder", ["space", "sample", "--n", "2", "--output", "notes"], 2, ("is a folder",)),
    Case("--output under a file", ["space", "sample", "--n", "2", "--output", "afile/x.jsonl"], 2, ("is a file, not a folder",)),
    Case("--output where nothing can be written", ["space", "sample", "--n", "2", "--output", "/proc/accelbench.jsonl"], 1, ("cannot use /proc/accelbench.jsonl",)),
    Case("status of a file", ["status", "afile"], 2, ("is a file, not a store folder",)),
    Case("fit with one calibration fold", FIT + ["new-fit", "--calibration-folds", "1"], 2, ("calibration_folds=1 is not allowed",)),
    Case("collect into a file", ["collect", "default", "--store", "afile"], 2, ("is a file, not a store folder",)),
    Case("status with stray files in table folders", ["status", "store"], 0, ("not a record file name", "left alone"),
         prepare=lambda s: (s / "store" / "train" / "notes.txt").write_text("x") or (s / "store" / "profile" / "junk.parquet").write_bytes(b"junk")),
    Case("compact with stray files in table folders", ["compact", "store"], 0, ("profile:",), output="store", keep=("store/train/notes.txt",),
         prepare=lambda s: (s / "store" / "train" / "notes.txt").write_text("x")),
    Case("collect with stray files in table folders", lambda c: ["collect", "sweep.toml", "--store", "store", "--address", c.ray_address], 0, ("1 to run",),
         output="store", keep=("store/train/notes.txt",), needs_ray=True,
         prepare=lambda s: config(s) or (s / "store" / "train" / "notes.txt").write_text("x")),
    Case("status of a foreign Parquet folder", ["status", "foreign"], 2, ("not an accelbench store",),
         prepare=lambda s: foreign_parquet(s / "foreign" / "data" / "part-0.parquet")),
    Case("status with a foreign Parquet file in a table folder", ["status", "store"], 0, ("not a profile record file",),
         prepare=lambda s: foreign_parquet(s / "store" / "profile" / "part-0.parquet")),
    Case("status never writes, even past a truncated file", ["status", "store"], 0, ("truncated", "skipped"), prepare=truncate_a_record_file),
    Case("fit an empty store", ["fit", "--store", "empty", "--out", "f"], 2, ("holds no results",),
         prepare=lambda s: shutil.copytree(s / "store" / "archs", s / "empty" / "archs")),
    Case("fit a store that does not exist", ["fit", "--store", "nowhere", "--out", "f"], 2, ("no such store",)),
    Case("query a fit with a missing member", QUERY, 2, ("member", "missing"),
         prepare=lambda s: next((s / "fit" / "models" / "val_top1").iterdir()).unlink()),
    Case("query a fit with a corrupt member", QUERY, 2, ("cannot be read as a linear model",),
         prepare=lambda s: next((s / "fit" / "models" / "val_top1").iterdir()).write_text("{not json")),
    Case("query a fit with a bad index", QUERY, 2, ("unreadable",), prepare=lambda s: (s / FIT_INDEX).write_text("{")),
    Case("query a fit whose model type was swapped", QUERY, 2, ("cannot be read as a xgboost model",),
         prepare=lambda s: edit_json(s / FIT_INDEX, lambda i: i["targets"]["val_top1"].__setitem__("model", "xgboost"))),
    Case("query a fit whose member points outside it", QUERY, 2, ("not a file inside",),
         prepare=lambda s: edit_json(s / FIT_INDEX, lambda i: i["targets"]["val_top1"].__setitem__("members", ["../afile"]))),
    Case("query a tampered release", ["query", "--surrogates", RELEASE, "--input", "a.jsonl", "--output", "q.csv"], 2, ("failed verification",),
         prepare=lambda s: (s / RELEASE / "configspace.json").write_text("{}")),
    # --- releases people can trust ---
    Case("verify a manifest whose files is a list", ["verify", RELEASE], 1, ("'files' must map",),
         prepare=lambda s: edit_json(s / RELEASE / "manifest.json", lambda m: m.__setitem__("files", list(m["files"])))),
    Case("verify an empty manifest", ["verify", RELEASE], 1, ("'files' is missing",), prepare=lambda s: (s / RELEASE / "manifest.json").write_text("{}")),
    Case("verify a manifest that lists nothing", ["verify", RELEASE], 1, ("records/archs.parquet: a release needs it",),
         prepare=lambda s: edit_json(s / RELEASE / "manifest.json", lambda m: m.__setitem__("files", {}))),
    Case("verify a link out of the release", ["verify", RELEASE], 1, ("symbolic link",),
         prepare=lambda s: os.symlink("/etc/hostname", s / RELEASE / "report" / "extra")),
    Case("verify a file edited with its hash, against the digest", lambda c: ["verify", RELEASE, "--digest", c.digest], 1, ("the manifest was changed",),
         prepare=edit_release_file),
    Case("verify an intact release against its digest", lambda c: ["verify", RELEASE, "--digest", c.digest], 0, ("intact",)),
    # --- issue 22: nothing lost, nothing silent ---
    Case("query onto the store's only train file", lambda c: QUERY[:-1] + [train_file()], 2, ("is inside", "a store")),
    Case("space stats onto the store's only train file", lambda c: ["space", "stats", "--input", "a.jsonl", "--output", train_file()], 2, ("is inside",)),
    Case("query dropping a file into a store", QUERY[:-1] + ["store/train/zz.parquet"], 2, ("is inside",)),
    Case("query into the fit it reads", QUERY[:-1] + ["fit/q.csv"], 2, ("the output of `accelbench fit`",)),
    Case("query into a release, spelt with ..", QUERY[:-1] + [f"notes/../{RELEASE}/q.csv"], 2, ("a release",)),
    Case("status --plots inside the store", ["status", "store", "--plots", "store/train"], 2, ("is inside",)),
    Case("status --plots onto the store", ["status", "store", "--plots", "store"], 2, ("is a store",)),
    Case("export-anb past a truncated train file", ["export-anb", "store", "out"], 1, ("no Parquet footer", "--allow-damaged", "nothing was written"),
         prepare=truncate_train),
    Case("export-anb --allow-damaged past a truncated train file", ["export-anb", "store", "out", "--allow-damaged"], 0,
         ("warning:", "left out"), output="out", prepare=truncate_train),
    Case("fit past a truncated train file", FIT + ["f"], 1, ("no Parquet footer", "--allow-damaged"), prepare=truncate_train),
    Case("fit with 100000 members", ["fit", "--store", "store", "--targets", "val_top1", "--members", "100000", "--out", "f"], 2, ("members=100000 is not allowed",)),
    Case("fit with 5000 calibration folds", FIT + ["f", "--calibration-folds", "5000"], 2, ("calibration_folds=5000 is not allowed",)),
    Case("fit with more folds than rows", FIT + ["f", "--calibration-folds", "900"], 2, ("is more than the", "val_top1 learns from")),
    Case("fit --seed -1", FIT + ["f", "--seed", "-1"], 2, ("seed=-1 is not allowed",)),
    Case("search --seed -1", ["search", "--benchmark", RELEASE, "--algorithm", "random", "--objective", "val_top1", "--budget", "5", "--seed", "-1",
                              "--output", "s"], 2, ("--seed -1 is not allowed",)),
    Case("a search no candidate can satisfy", ["search", "--benchmark", RELEASE, "--algorithm", "evolution", "--objective", "val_top1",
                                                "--constraint", "val_top1>=1000", "--budget", "20", "--output", "s"], 0, ("no feasible architecture",), output="s"),
    Case("search onto the fit", ["search", "--benchmark", "fit", "--algorithm", "random", "--objective", "val_top1", "--budget", "5", "--output", "fit"], 2,
         ("is the fit output", "inside it or above it")),
    Case("a 5,000-digit integer in an architecture line", ["space", "stats", "--input", "big.jsonl"], 2, ("big.jsonl:1", "not a usable JSON value"),
         prepare=huge_integer_line),
    Case("a non-UTF-8 architecture file", ["space", "stats", "--input", "bin.jsonl"], 2, ("not UTF-8",),
         prepare=lambda s: (s / "bin.jsonl").write_bytes(b"\xff\xfe{}\n")),
    Case("query a non-UTF-8 architecture file", QUERY[:4] + ["bin.jsonl", "--output", "q.csv"], 2, ("not UTF-8",),
         prepare=lambda s: (s / "bin.jsonl").write_bytes(b"\xff\xfe{}\n")),
    Case("a member with a string coefficient", QUERY, 2, ("is not a finite number",), prepare=lambda s: member(s, intercept="0.1")),
    Case("a member with an unknown coefficient", QUERY, 2, ("unknown: ['zzz']",),
         prepare=lambda s: edit_json(s / "fit" / "models" / "val_top1" / "member0.json", lambda m: m["coefficients"].__setitem__("zzz", 1.0))),
    Case("a member with a NaN intercept", QUERY, 2, ("intercept=nan",), prepare=lambda s: member(s, intercept=float("nan"))),
    Case("space stats on an empty file", ["space", "stats", "--input", "empty.jsonl"], 2, ("holds no architectures",),
         prepare=lambda s: (s / "empty.jsonl").write_text("")),
    Case("import a folder with no records", ["import-anb", "notes", "--store", "new"], 2, ("nothing to import",)),
    Case("collect an empty architecture file", ["collect", "sweep.toml", "--store", "new"], 2, ("holds no architectures",),
         prepare=lambda s: (s / "empty.jsonl").write_text("") or (s / "sweep.toml").write_text('name = "e"\n[architectures]\nfile = "empty.jsonl"\n'
                                                                                              '[[profiling.targets]]\nname = "cpu"\nbackend = "onnxruntime"\n')),
    Case("space sample of 10^10 architectures", ["space", "sample", "--n", "10000000000"], 2, ("--n 10000000000 is not allowed",)),
    Case("release --fit with fit options", ["release", "--store", "store", "--name", "r", "--version", "2", "--out", "rel", "--fit", "fit",
                                            "--members", "3"], 2, ("--fit reuses that fit", "--members")),
    Case("release --fit of a fit made from other records", ["release", "--store", "store", "--name", "r", "--version", "2", "--out", "rel",
                                                            "--fit", "f2"], 2, ("was fitted on other records", "fit again"), prepare=fit_of_other_records),
    Case("release --fit of a fit that does not name its records", ["release", "--store", "store", "--name", "r", "--version", "2", "--out", "rel",
                                                                   "--fit", "fit"], 2, ("does not say which records",),
         prepare=lambda s: edit_json(s / FIT_INDEX, lambda i: i.pop("records"))),
    Case("verify --digest with spaces", ["verify", RELEASE, "--digest", " abc "], 2, ("is not a sha256",)),
    Case("export-anb --recipe-id nope", ["export-anb", "store", "out", "--recipe-id", "nope"], 2, ("--recipe-id 'nope' has no ok training records",)),
    # --- a cluster that does not answer, data no training host sees ---
    Case("an unreachable --address", ["collect", "sweep.toml", "--store", "new", "--address", "127.0.0.1:9"], 2, ("no Ray cluster answers at 127.0.0.1:9",),
         prepare=config),
    Case("training data that does not exist", lambda c: ["collect", "sweep.toml", "--store", "new", "--address", c.ray_address], 2,
         ("on a training host", "is not a folder"), needs_ray=True, prepare=lambda s: config(s, data="no-such-data")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Case, base, tmp_path, monkeypatch, request):
    sandbox = tmp_path / "sandbox"
    shutil.copytree(base, sandbox, symlinks=True)
    context = SimpleNamespace(digest=release_digest(base / RELEASE), ray_address=request.getfixturevalue("ray_cluster") if case.needs_ray else None)
    monkeypatch.chdir(sandbox)
    case.prepare(sandbox)
    before = snapshot(sandbox)
    errors = io.StringIO()
    with redirect_stderr(errors), redirect_stdout(io.StringIO()) as printed:
        code = main(case.args(context) if callable(case.args) else case.args)
    message = errors.getvalue() + printed.getvalue()
    assert code == case.exit, message
    assert all(word in message for word in case.words), message
    assert "Traceback" not in message
    if case.exit:
        assert len([line for line in errors.getvalue().splitlines() if "error:" in line]) <= 1, message
    after = snapshot(sandbox)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert outside(changed, case.output) == set(), f"changed outside the command's output: {sorted(outside(changed, case.output))}"
    assert all((sandbox / path).exists() for path in case.keep)


def test_an_interrupt_ends_with_one_line_and_exit_130(monkeypatch, capsys):
    """E.g. Ctrl-C while Ray shuts down: one line, exit 130 (it was exit 1 and no message)."""
    from accelbench.pipeline import run as pipeline_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_run, "collect", interrupted)
    assert main(["collect", "default", "--store", "unused"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from accelbench.workflows import cli

    real = cli.build_parser

    def parser_with_a_bug():
        parser = real()
        parse = parser.parse_args

        def parse_with_a_bug(argv=None):
            arguments = parse(argv)
            arguments.handler = lambda _: 1 / 0
            return arguments

        parser.parse_args = parse_with_a_bug
        return parser

    monkeypatch.setattr(cli, "build_parser", parser_with_a_bug)
    assert cli.main(["space", "info"]) == 1
    assert "unexpected ZeroDivisionError" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "space", "info"])


def test_output_folders_follow_the_umask(base, tmp_path):
    previous = os.umask(0o022)
    try:
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            assert main(["fit", "--store", str(base / "store"), "--out", str(tmp_path / "fit"), *LIGHT_FIT]) == 0
            assert main(["export-anb", str(base / "store"), str(tmp_path / "export")]) == 0
    finally:
        os.umask(previous)
    for folder in ("fit", "export"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o755


def _release(store: str, out: str, result) -> None:
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()) as printed:
        code = main(["release", "--store", store, "--name", "same", "--version", "1", "--out", out, *LIGHT_FIT])
    result.put((code, printed.getvalue()))


def test_two_releases_of_the_same_name_at_once_exactly_one_wins(base, tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_release, args=(str(base / "store"), str(tmp_path), results)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
    outcomes = sorted(results.get(timeout=10) for _ in processes)
    assert [code for code, _ in outcomes] == [0, 1], outcomes
    winner = outcomes[0][1]
    assert release_digest(tmp_path / "same-1") in winner  # the release on disk is the one that said it won
    assert main(["verify", str(tmp_path / "same-1")]) == 0
    assert not list(tmp_path.glob(".same-1.*"))  # no staging left behind


# --- issue 22: the ways a command could lose or silently damage data, each as a test ---
def test_a_listener_that_is_not_ray_is_refused_before_the_store_is_made(tmp_path, monkeypatch, capsys):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()  # accepts, never answers
    monkeypatch.chdir(tmp_path)
    config(tmp_path)
    port = listener.getsockname()[1]
    from accelbench.pipeline import run as pipeline_run

    monkeypatch.setattr(pipeline_run, "check_reachable", lambda address, timeout_s=1.0, real=pipeline_run.check_reachable: real(address, timeout_s))
    assert main(["collect", "sweep.toml", "--store", "new", "--address", f"127.0.0.1:{port}"]) == 2
    assert "is not a Ray cluster" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    listener.close()


def test_sigterm_removes_the_partial_output(base, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    sandbox = tmp_path / "sandbox"
    shutil.copytree(base, sandbox, symlinks=True)
    command = [sys.executable, "-m", "accelbench.workflows.cli", "fit", "--store", "store", "--targets", "val_top1", "--members", "5", "--out", "f"]
    process = subprocess.Popen(command, cwd=sandbox, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    while process.poll() is None and not list(sandbox.glob(".f.partial-*")):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate()
    assert process.returncode == 143, errors
    assert "terminated" in errors and "Traceback" not in errors
    assert not list(sandbox.glob(".f.partial-*")) and not (sandbox / "f").exists()


def test_a_store_another_process_is_making_is_in_use_not_foreign(tmp_path, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom accelbench.pipeline.store import Store\n"
                               "with Store(sys.argv[1]).lock('collect'):\n    print('held', flush=True)\n    time.sleep(60)\n", str(tmp_path / "new")],
                              cwd=Path(__file__).parents[2], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["_lock"]  # made, not yet marked
        records = tmp_path / "records"
        records.mkdir()
        assert main(["import-anb", str(records), "--store", str(tmp_path / "new")]) == 2  # nothing to import: said before the lock
        code = main(["status", str(tmp_path / "new")])
        assert "not an accelbench store" not in capsys.readouterr().err and code == 0
    finally:
        holder.kill()
        holder.wait()


# Every subcommand that writes, pointed at each kind of path in a store, a release and a fit.
def writers() -> dict[str, Callable[[str], list[str]]]:
    search = ["--algorithm", "random", "--objective", "val_top1", "--budget", "5"]
    return {
        "space sample": lambda p: ["space", "sample", "--n", "2", "--output", p],
        "space stats": lambda p: ["space", "stats", "--input", "a.jsonl", "--output", p],
        "query": lambda p: ["query", "--surrogates", "fit", "--input", "a.jsonl", "--output", p if p.endswith((".csv", ".parquet")) else f"{p}/q.csv"],
        "profile": lambda p: ["profile", "--backend", "onnxruntime", "--input", "a.jsonl", "--resolution", "32", "--output", p],
        "train": lambda p: ["train", "--recipe", "smoke", "--input", "a.jsonl", "--output", p],
        "fit": lambda p: ["fit", "--store", "store", *LIGHT_FIT, "--out", p],
        "fit-device": lambda p: ["fit-device", "--store", "store", "--target", "latency_zcu102", "--shots", "5", "--out", p],
        "release": lambda p: ["release", "--store", "store", "--name", "x", "--version", "1", "--out", p, *LIGHT_FIT],
        "export-anb": lambda p: ["export-anb", "store", p],
        "search": lambda p: ["search", "--benchmark", RELEASE, *search, "--output", p],
        "search-compare": lambda p: ["search-compare", "--benchmark", RELEASE, "--objective", "val_top1", "--budget", "5", "--seeds", "1", "--output", p],
        "explain": lambda p: ["explain", "--surrogates", "fit", "--target", "val_top1", "--output", p],
        "status --plots": lambda p: ["status", "store", "--plots", p],
        "data prepare": lambda p: ["data", "prepare", "images", p],
    }


def protected_paths(sandbox: Path) -> list[str]:
    """Each folder, its first file and first subfolder, a new name inside that, and the same reached
    through `..` and through a symbolic link."""
    paths = []
    for root in ("store", "fit", RELEASE):
        folder = sandbox / root
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        folders = sorted(p for p in folder.rglob("*") if p.is_dir())
        picks = [folder, files[0], files[-1], *folders[:1]]
        paths += [str(p.relative_to(sandbox)) for p in picks]
        if folders:
            paths.append(str((folders[0] / "new-output").relative_to(sandbox)))
        paths.append(f"notes/../{root}/new-output")
        paths.append(f"link-{root.replace('/', '-')}/new-output")
    return paths


def protected_state(sandbox: Path) -> dict:
    return {root: snapshot(sandbox / root) for root in ("store", "fit", RELEASE)}


@pytest.mark.parametrize("writer", list(writers()))
def test_no_writer_touches_a_store_a_release_or_a_fit(writer, base, tmp_path, monkeypatch):
    sandbox = tmp_path / "sandbox"
    shutil.copytree(base, sandbox, symlinks=True)
    for root in ("store", "fit", RELEASE):
        os.symlink(sandbox / root, sandbox / f"link-{root.replace('/', '-')}")
    (sandbox / "images" / "train" / "a").mkdir(parents=True)
    (sandbox / "images" / "val" / "a").mkdir(parents=True)
    for split in ("train", "val"):
        shutil.copy(next((sandbox / "fit").rglob("*.png")), sandbox / "images" / split / "a" / "x.png")
    monkeypatch.chdir(sandbox)
    before = protected_state(sandbox)
    own = {"fit": {"fit"}, "fit-device": {"fit"}}.get(writer, set())  # `fit --out FIT` replaces its own earlier output
    for path in [p for p in protected_paths(sandbox) if p not in own]:
        arguments = writers()[writer](path)
        errors = io.StringIO()
        with redirect_stderr(errors), redirect_stdout(io.StringIO()):
            code = main(arguments)
        assert code != 0, f"{' '.join(arguments)} succeeded"
        assert "Traceback" not in errors.getvalue() and len([line for line in errors.getvalue().splitlines() if "error:" in line]) == 1, errors.getvalue()
        assert protected_state(sandbox) == before, f"{' '.join(arguments)} changed a protected folder"


def test_a_release_from_a_fit_is_the_release_that_fits_again(base, tmp_path, monkeypatch):
    """`fit` then `release --fit`: the documented flow fits once, and its release is byte for byte the
    one `release` makes by fitting itself (same settings, same records)."""
    sandbox = tmp_path / "sandbox"
    shutil.copytree(base, sandbox, symlinks=True)
    monkeypatch.chdir(sandbox)
    release = ["release", "--store", "store", "--name", "r", "--version", "2"]
    with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
        assert main(["fit", "--store", "store", *LIGHT_FIT, "--out", "f"]) == 0
        assert main([*release, "--out", "refit", *LIGHT_FIT]) == 0
        assert main([*release, "--out", "reused", "--fit", "f"]) == 0
    assert snapshot(sandbox / "refit") == snapshot(sandbox / "reused")
    assert release_digest(sandbox / "refit" / "r-2") == release_digest(sandbox / "reused" / "r-2")
    assert not (sandbox / "reused" / "r-2" / "surrogates" / ".accelbench-output.json").exists()
