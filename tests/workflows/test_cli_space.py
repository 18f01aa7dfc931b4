import json
import subprocess
import sys

import pytest

from accelbench.search_space import Architecture, count_macs, count_params
from accelbench.workflows.cli import main


def run(*arguments):
    return subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", *arguments], capture_output=True, text=True)


def test_sample_then_stats(tmp_path, capsys):
    samples = tmp_path / "sample.jsonl"
    assert main(["space", "sample", "--n", "5", "--seed", "3", "--output", str(samples)]) == 0
    lines = samples.read_text().splitlines()
    assert len(lines) == 5
    assert main(["space", "stats", "--input", str(samples)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for line, row in zip(lines, rows):
        architecture = Architecture.from_json(line)
        assert row["arch_id"] == architecture.arch_id
        assert row["params"] == count_params(architecture)
        assert isinstance(row["macs"], int) and row["macs"] > 0


def test_info(capsys):
    assert main(["space", "info"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == 104485552128


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "bad.jsonl:2: not valid JSON"),
        ("[1, 2]", "bad.jsonl:2: expected a JSON object"),
        ('{"block0_e": 2}', "bad.jsonl:2: missing keys"),
    ],
)
def test_stats_bad_line_names_the_line_and_exits_2(tmp_path, line, message):
    good = json.dumps(Architecture.from_compact("e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se").to_reference())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good + "\n" + line + "\n")
    output = tmp_path / "out.jsonl"
    result = run("space", "stats", "--input", str(bad), "--output", str(output))
    assert result.returncode == 2
    assert message in result.stderr
    assert not output.exists()  # nothing half-written


def test_stats_wrong_value_names_field(tmp_path):
    keys = Architecture.from_compact("e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se").to_reference()
    keys["block5_l"] = 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(keys) + "\n")
    result = run("space", "stats", "--input", str(bad))
    assert result.returncode == 2
    assert "bad.jsonl:1: block5_l=5 is not allowed; choices are 1, 2, 3, 4" in result.stderr


def test_missing_input_file_exits_2(tmp_path):
    result = run("space", "stats", "--input", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_the_ofa_space_through_space_commands_and_a_clear_refusal_elsewhere(tmp_path, capsys):
    samples = tmp_path / "ofa.jsonl"
    assert main(["space", "sample", "--n", "3", "--seed", "1", "--space", "ofa", "--output", str(samples)]) == 0
    assert main(["space", "stats", "--input", str(samples)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    architectures = [Architecture.from_json(line) for line in samples.read_text().splitlines()]
    assert [row["arch_id"] for row in rows] == [a.arch_id for a in architectures] and {a.space for a in architectures} == {"ofa"}
    assert [row["macs"] for row in rows] == [count_macs(a) for a in architectures]  # each at its own resolution
    assert main(["space", "info", "--space", "ofa"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 25 * 7371**5 and info["blocks"] == 92 and info["keys"]["stage0_layer3_k"] == [3, 5, 7]
    for command in (["profile", "--backend", "onnxruntime"], ["train", "--recipe", "smoke"]):
        result = run(*command, "--input", str(samples))
        assert result.returncode == 2
        assert f"{samples}: architecture 1 is of the ofa space; --space anb takes anb architectures" in result.stderr
