"""The cluster launch files parse (the launcher's through Ray's own schema), run the project's command,
keep Ray's token authentication on, and provide every Ray resource the ImageNet preset's targets ask for."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from accelbench.workflows.config import load_sweep

CLUSTER = Path(__file__).resolve().parents[2] / "accelbench" / "workflows" / "cluster"
LAUNCHER, KUBERAY, SLURM, DOCKERFILE = (CLUSTER / name for name in ("ray-cluster.yaml", "raycluster.yaml", "slurm.sbatch", "Dockerfile"))


def preset_resources() -> set[str]:
    """Every resource a target of the ImageNet preset asks for, beyond CPU and GPU."""
    sweep = load_sweep("anb-imagenet")
    return {name for spec in sweep.profiling.targets for name in spec.resources if name not in ("CPU", "GPU")}


def declared(text: str, resources: dict[str, float], accelerators: str, name: str) -> bool:
    """Whether a file provides resource `name`: declared by a node group, or named in a host's join command;
    `accelerator_type:X` (set by Ray itself) by provisioning accelerators of that model."""
    if name.startswith("accelerator_type:"):
        return name.split(":", 1)[1].lower() in accelerators.lower()
    return name in resources or f'--resources=\'{{"{name}": 1}}\'' in text


def test_the_preset_asks_for_device_resources():
    assert {"accelerator_type:A100", "rtx3090", "tpuv2", "tpuv3", "zcu102", "vck190"} <= preset_resources()


def test_launcher_config_passes_rays_schema_and_provides_every_resource():
    from ray.autoscaler._private.util import prepare_config, validate_config

    text = LAUNCHER.read_text()
    config = yaml.safe_load(text)
    validate_config(prepare_config(copy.deepcopy(config)))
    broken = copy.deepcopy(config)
    broken["available_node_types"]["head"]["misspelt"] = 1
    with pytest.raises(Exception, match="misspelt"):  # the schema check is real
        validate_config(prepare_config(broken))
    types = config["available_node_types"]
    resources = {name for node in types.values() for name in node.get("resources", {})}
    accelerators = " ".join(a["acceleratorType"] for node in types.values() for a in node["node_config"].get("guestAccelerators", []))
    assert all(declared(text, resources, accelerators, name) for name in preset_resources()), preset_resources()
    assert "accelbench collect" in text and "make setup" in " ".join(config["setup_commands"])
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in command for command in starts if "ray start" in command)
    assert "~/.ray/auth_token" in config["file_mounts"]


def test_kuberay_manifest_declares_a_group_per_device_with_token_authentication():
    text = KUBERAY.read_text()
    cluster = yaml.safe_load(text)
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    resources = set()
    for group in groups:
        if "resources" in group["rayStartParams"]:
            resources |= set(json.loads(json.loads(group["rayStartParams"]["resources"])))
        for container in group["template"]["spec"]["containers"]:
            env = {item["name"]: item for item in container["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token" and "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]
    accelerators = " ".join(str(group["template"]["spec"].get("nodeSelector", {})) for group in groups)
    assert all(declared(text, resources, accelerators, name) for name in preset_resources()), preset_resources()
    assert "accelbench collect" in text
    import ray

    image = re.search(r"^FROM rayproject/ray:(\S+)-py", DOCKERFILE.read_text(), re.MULTILINE)
    assert image and image.group(1) == cluster["spec"]["rayVersion"] == ray.__version__


def test_slurm_script_is_valid_bash_and_starts_ray_with_token_authentication():
    text = SLURM.read_text()
    subprocess.run(["bash", "-n", str(SLURM)], check=True)
    assert "export RAY_AUTH_MODE=token" in text and "auth_token" in text
    assert re.search(r"ray start --head", text.replace('"$RAY"', "ray")) and "accelbench collect" in text
    gres = re.search(r"#SBATCH --gres=gpu:(\w+):\d", text)
    assert gres and all(declared(text, set(), gres.group(1), name) for name in preset_resources()), preset_resources()
