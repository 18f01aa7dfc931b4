"""Placement: a task whose resources no single node offers is unavailable, with the reason."""

from accelbench.pipeline.stages.base import ray_resources, unplaceable

NODES = [{"CPU": 2.0, "memory": 1e9}, {"CPU": 1.0, "probe": 1.0}]


def test_a_node_with_every_resource_places_the_task():
    assert unplaceable({"CPU": 1, "probe": 1}, NODES) is None
    assert unplaceable({"CPU": 2}, NODES) is None
    assert unplaceable({"GPU": 0}, NODES) is None


def test_resources_spread_over_nodes_do_not_count():
    reason = unplaceable({"CPU": 2, "probe": 1}, NODES)
    assert reason == ("no node of the Ray cluster offers CPU=2, probe=1 together (the most any node has: CPU=2, probe=1); "
                      "start one with ray start --resources")
    assert "zcu102=0" in unplaceable({"zcu102": 1}, NODES)


def test_target_resources_become_ray_options():
    assert ray_resources({"GPU": 1, "CPU": 4, "accelerator_type:A100": 0.001}, 1) == {"num_cpus": 4, "num_gpus": 1, "resources": {"accelerator_type:A100": 0.001}}
    assert ray_resources({}, 2) == {"num_cpus": 2, "num_gpus": 0}
