"""The README runs as written. Every command in its shell blocks is either run, in README order, in a
folder laid out like a checkout (`../shared` beside it), or skipped for a stated reason; a command
added to the README and not listed here fails the test. Cheap runs append options that only shrink
the work (fewer targets, members, queries). The Python snippet runs as printed. Every `e.g.` example
in the CLI's help parses."""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
from pathlib import Path

import pytest

from accelbench.workflows.cli import build_parser, main
from tests.conftest import REPO, SHARED

README = REPO / "README.md"
CHEAP_FIT = "--targets val_top1 throughput_a100 throughput_vck190 --models lightgbm linear block_additive --members 1 --calibration-folds 2"
CHEAP_SEARCH = "--budget 60"
CHEAP_PROFILE = "--option sessions=1 --option repeats=3 --option min_time_s=0.05"


def run(append: str = "", instead: str | None = None) -> dict:
    return {"append": append, "instead": instead}


def skip(reason: str) -> dict:
    return {"skip": reason}


OFA_FLOW = skip("the ofa-embedded flow: benchmarks/ofa_flow.py runs these very commands (~10 min); tests/workflows/test_two_spaces.py runs each at test size")
HOW = {  # every shell command of the README, in its order
    "make collect": skip("the sweep trains networks for minutes; tests/pipeline collects the same stages at test size"),
    "make test": skip("this is the test suite"),
    "make collect CONFIG=accelbench/workflows/configs/anb-imagenet.toml STORE=/shared/anb RAY_ADDRESS=head:6379": skip("needs ImageNet and a Ray cluster"),
    "accelbench collect CONFIG [--store DIR] [--address ADDR] [--retry failed]": skip("a synopsis; tests/pipeline runs collect"),
    "accelbench status STORE": run(instead="accelbench status runs/anb"),
    "accelbench compact STORE": run(instead="accelbench compact runs/anb"),
    "accelbench recipe show anb-proxy": run(),
    "accelbench train --recipe smoke --input a.jsonl [--set epochs=2] [--data embedded|PATH] [--device cpu|cuda]":
        skip("trains for a minute per architecture; tests/training/test_trainer.py runs accelbench train"),
    "accelbench proxy-search proxy-embedded --store runs/proxy": skip("trains dozens of networks; tests/proxy/test_proxy_search.py runs it small"),
    "accelbench recipe show runs/proxy/_proxy/proxy-embedded/proxy-embedded-chosen.toml": skip("reads what proxy-search wrote"),
    "make fashion-mnist": skip("installs a Debian package (root and apt); tests/training/test_fashion_mnist.py reads IDX files it writes"),
    "accelbench proxy-search proxy-fashion --ceiling-only": skip("24 trainings, about an hour; tests/proxy/test_proxy_search.py runs --ceiling-only small"),
    "python -m benchmarks.fashion_ceiling --store runs/proxy-fashion": skip("a benchmark of an hour and more; its results are the block below"),
    "accelbench targets show accelbench/workflows/configs/anb-imagenet.toml": run(),
    "accelbench profile --list": run(),
    "accelbench profile --backend onnxruntime --input a.jsonl --batch 1 --resolution 224": run(append=CHEAP_PROFILE),
    "accelbench tune-tvm --work-dir tvm-db --trials 2000": skip("tunes for hours; tests/profiling/test_tvm.py tunes a few trials"),
    "make collect CONFIG=accelbench/workflows/configs/blocks-cpu.toml STORE=runs/blocks-cpu": skip("profiles 210 networks and blocks (~5 min)"),
    "accelbench lut --store runs/blocks-cpu --target cpu_ort [--calibrate 5] --out lut/": skip("reads the blocks-cpu store"),
    "accelbench fit-device --store runs/anb --target latency_zcu102 --shots 20 --seed 0 --out fits/zcu102": skip("runs below, after import-anb"),
    "accelbench adapt plan --target latency_mydev --shots 20 --output plan.csv": run(),
    "accelbench adapt fit --store runs/anb --target latency_mydev --measured plan.csv --devices mydev.toml --out fits/mydev":
        skip("needs the new device's measurements; tests/workflows/test_cli_adapt.py fits from a filled-in plan"),
    "accelbench import-anb ../shared/data/anb/anb_dataset_dev.tar.gz --store runs/anb": run(),
    "accelbench export-anb runs/anb out/": run(),
    "accelbench fit --store runs/anb --out fits/anb": run(append=CHEAP_FIT),
    "accelbench query --surrogates fits/anb --input a.jsonl --output predictions.parquet": run(),
    "accelbench release --store runs/anb --name anb --version 1.0 --out releases --fit fits/anb": run(),
    "accelbench verify releases/anb-1.0 [--digest SHA256]": run(),
    "accelbench search --benchmark releases/anb-1.0 --algorithm evolution --objective val_top1 "
    "--constraint \"throughput_vck190>=3000\" --budget 1500 --seed 0 --output searches/evo": run(append=CHEAP_SEARCH),
    "accelbench search --benchmark releases/anb-1.0 --algorithm nsga2 --objective val_top1 "
    "--objective throughput_vck190 --budget 1500 --output searches/front": run(append=CHEAP_SEARCH),
    "accelbench search-compare --benchmark releases/anb-1.0 --objective val_top1 --budget 1500 --seeds 5 --output compare/uni":
        run(append=f"{CHEAP_SEARCH} --seeds 2"),
    "accelbench search --store runs/default --algorithm random --objective random_weight_top1 --budget 50 --output searches/rwe":
        skip("searches make collect's store; tests/workflows/test_cli_surrogates.py searches a store's random_weight_top1"),
    "accelbench explain --surrogates releases/anb-1.0 --target throughput_a100 --output explain/a100": run(),
    "accelbench space info": run(),
    "accelbench space sample --n 3 --seed 0 > a.jsonl": run(),
    "accelbench space stats --input a.jsonl": run(),
    "make collect CONFIG=accelbench/workflows/configs/ofa-embedded.toml STORE=runs/ofa-embedded": OFA_FLOW,
    "accelbench status runs/ofa-embedded": OFA_FLOW,
    "accelbench fit --store runs/ofa-embedded --targets latency_cpu_ort --out fits/ofa": OFA_FLOW,
    "accelbench release --store runs/ofa-embedded --name ofa --version 0.1 --out releases --fit fits/ofa": OFA_FLOW,
    "accelbench search --benchmark releases/ofa-0.1 --algorithm evolution --objective latency_cpu_ort --budget 500 --output searches/fastest": OFA_FLOW,
    "accelbench explain --surrogates fits/ofa --target latency_cpu_ort": OFA_FLOW,
}
FIRST = ["accelbench space sample --n 3 --seed 0 > a.jsonl", "accelbench import-anb ../shared/data/anb/anb_dataset_dev.tar.gz --store runs/anb"]
AFTER_IMPORT = ["accelbench fit-device --store runs/anb --target latency_zcu102 --shots 20 --seed 0 --out fits/zcu102"]


def readme_blocks(language: str) -> list[str]:
    return [match.group(1) for match in re.finditer(rf"```{language}\n(.*?)```", README.read_text(), re.S)]


def readme_commands() -> list[str]:
    """Each shell line, continuations joined, comments and the `.venv/bin/` prefix dropped."""
    commands = []
    for block in readme_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                commands.append(re.sub(r"\s+", " ", line.removeprefix(".venv/bin/")))
    return commands


def test_every_readme_command_is_run_or_skipped_for_a_reason():
    commands = readme_commands()
    assert [c for c in commands if c not in HOW] == [], "a new README command: say in HOW how the docs test runs it"
    assert [c for c in HOW if c not in commands] == [], "HOW lists a command the README no longer has"


def accelbench(command: str, capsys) -> None:
    words = shlex.split(command)
    output = None
    if ">" in words:
        words, output = words[: words.index(">")], Path(words[words.index(">") + 1])
    assert words[0] == "accelbench", command
    code = main(words[1:])
    captured = capsys.readouterr()
    assert code == 0, f"{command}: exit {code}: {captured.err.strip()[-2000:]}"
    if output is not None:
        output.write_text(captured.out)


def test_the_readme_runs_as_written(tmp_path, monkeypatch, capsys):
    checkout = tmp_path / "accelbench"
    checkout.mkdir()
    (checkout / "accelbench").symlink_to(REPO / "accelbench")
    (tmp_path / "shared").symlink_to(SHARED)
    monkeypatch.chdir(checkout)
    ran = []
    for command in [*FIRST, *AFTER_IMPORT, *[c for c in readme_commands() if c not in FIRST + AFTER_IMPORT]]:
        how = HOW[command]
        if "skip" in how and command not in AFTER_IMPORT:
            continue
        text = how.get("instead") or command
        text = re.sub(r"\s*\[[^\]]*\]", "", text)  # optional parts of a synopsis
        accelbench(f"{text} {how.get('append', '')}".strip(), capsys)
        ran.append(command)
    assert len(ran) == sum("skip" not in how for how in HOW.values()) + len(AFTER_IMPORT)
    with contextlib.redirect_stdout(None):
        namespace: dict = {}
        exec(compile(readme_blocks("python")[0], "README.md", "exec"), namespace)  # noqa: S102 - the README's own snippet
    answers = namespace["benchmark"].query(namespace["architectures"])
    assert len(answers) == 1000 and {"val_top1_mean", "throughput_a100_lo"} <= set(answers.columns)
    assert answers["val_top1_mean"].between(0, 100).all()


def help_examples() -> list[tuple[str, argparse.Action, str]]:
    """(command, option, example) for every `e.g. ...` in an option's help."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for name, parser in commands.choices.items():
        for action in parser._actions:
            for example in re.findall(r"e\.g\. ((?:--\S+|\"[^\"]+\")(?: [^\s,;()`]+)*)", action.help or ""):
                found.append((name, action, example))
    return found


def test_the_help_has_examples():
    assert {(name, action.dest) for name, action, _ in help_examples()} >= {("search-compare", "reference"), ("search", "constraint"), ("train", "set")}


@pytest.mark.parametrize("name, action, example", help_examples(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_help_example_parses(name, action, example):
    words = shlex.split(example)
    if not words[0].startswith("--"):
        words = [action.option_strings[0], *words]
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser._add_action(action)
    parsed = parser.parse_args(words)
    assert getattr(parsed, action.dest) not in (None, []), f"accelbench {name} {example}"
