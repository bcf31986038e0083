"""Benchmark: time and memory to validate and plan a large blueprint.

Generates a blueprint with many networks, volumes and containers, then
measures, without an engine: loading and validation, building the desired
state, planning against an empty engine and planning against an engine that
already matches (the common "nothing to do" case). Exits 1 when a target is
missed. Run with `make bench`; record results in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from provisioner.labels import ownership_labels
from provisioner.planner import plan_apply
from provisioner.resources import DesiredState, Kind, build_desired_state
from provisioner.snapshot import snapshot_from_lists
from provisioner.validation import load_blueprint

# Targets for the default size (about 1,000 resources).
MAX_SECONDS = {"validate": 3.0, "validate (templates)": 3.0, "desired state": 1.0, "plan (empty engine)": 3.0,
               "plan (no changes)": 3.0}
MAX_PEAK_MEGABYTES = 300


def generate_blueprint(networks: int, volumes: int, containers: int) -> dict[str, Any]:
    blueprint: dict[str, Any] = {"version": 1, "project": "bench", "volumes": {}, "networks": {},
                                 "volume_containers": {}, "containers": {}}
    for index in range(networks):
        blueprint["networks"][f"net-{index}"] = {"subnet": f"10.{100 + index // 256}.{index % 256}.0/24",
                                                 "labels": {"tier": "bench"}}
    for index in range(volumes):
        blueprint["volumes"][f"vol-{index}"] = {"labels": {"index": str(index)}}
    for index in range(volumes // 2):
        blueprint["volume_containers"][f"store-{index}"] = {
            "image": "busybox:1.36", "volumes": ["/data", f"vol-{index}:/srv/vol"]}
    for index in range(containers):
        network = f"net-{index % networks}"
        blueprint["containers"][f"app-{index}"] = {
            "image": "busybox:1.36",
            "command": ["sleep", "100000"],
            "environment": {"INDEX": str(index), "MODE": "bench"},
            "volumes_from": [f"store-{index % (volumes // 2)}:ro"],
            "volumes": [f"vol-{(index + 1) % volumes}:/srv/extra"],
            "networks": {network: {"ipv4_address": f"10.{100 + (index % networks) // 256}.{(index % networks) % 256}.{10 + index // networks}",
                                   "aliases": [f"app{index}"]}},
            "ports": [f"127.0.0.1:{20000 + index}:80"],
        }
    return blueprint


def templated(blueprint: dict[str, Any]) -> dict[str, Any]:
    """Return the blueprint with three templates in every container, one of them reading a secret."""
    blueprint = {**blueprint, "variables": {"tag": {"default": "1.36"}, "mode": {"default": "bench"},
                                            "token": {"default": "bench-token", "secret": True}}}
    for container in blueprint["containers"].values():
        container["image"] = "busybox:{{ vars.tag }}"
        container["environment"] = {**container["environment"], "MODE": "{{ vars.mode }}", "TOKEN": "{{ vars.token }}"}
    return blueprint


def matching_engine_lists(desired: DesiredState) -> dict[str, Any]:
    """Raw list JSON of an engine on which `desired` was already applied."""
    raw: dict[str, Any] = {"containers": [], "networks": [], "volumes": [], "images": [
        {"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:1.36"]}]}
    for resource in desired.resources.values():
        labels = {**resource.spec.get("labels", {}),
                  **ownership_labels(desired.project, resource.id.label, resource.role, resource.spec)}
        name = resource.id.name
        if resource.id.kind is Kind.VOLUME:
            raw["volumes"].append({"Name": name, "Driver": "local", "Labels": labels, "Options": {}})
        elif resource.id.kind is Kind.NETWORK:
            spec = resource.spec
            raw["networks"].append({"Name": name, "Id": f"id-{name}", "Driver": "bridge", "Internal": False, "Labels": labels,
                                    "IPAM": {"Config": [{"Subnet": spec["subnet"], "Gateway": ""}]}})
        else:
            raw["containers"].append(_container_entry(resource, labels, desired))
    return raw


def _container_entry(resource: Any, labels: dict[str, str], desired: DesiredState) -> dict[str, Any]:
    spec = resource.spec
    mounts = [{"Type": "volume", "Name": mount["source"], "Destination": mount["target"], "RW": not mount["read_only"]}
              for mount in spec["mounts"] if mount["type"] == "volume"]
    mounts += [{"Type": "volume", "Name": f"anon-{resource.id.name}", "Destination": mount["target"], "RW": True}
               for mount in spec["mounts"] if mount["type"] == "anonymous"]
    for entry in spec["volumes_from"]:
        source = desired.resources[next(rid for rid in desired.resources if rid.name == entry["container"])]
        mounts += [{"Type": "volume", "Name": mount.get("source") or f"anon-{source.id.name}", "Destination": mount["target"],
                    "RW": not entry["read_only"]} for mount in source.spec["mounts"] if mount["type"] != "bind"]
    networks = {name: {"NetworkID": f"id-{name}", "IPAMConfig": {"IPv4Address": attachment["ipv4_address"]}}
                for name, attachment in spec["networks"].items()}
    return {"Id": f"id-{resource.id.name}", "Names": [f"/{resource.id.name}"], "Image": spec["image"],
            "ImageID": "sha256:" + "b" * 64, "State": "running" if resource.state == "running" else "created",
            "Labels": labels, "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": networks}, "Mounts": mounts}


def measure(label: str, results: dict[str, float], function: Any, *args: Any) -> Any:
    started = time.perf_counter()
    value = function(*args)
    results[label] = time.perf_counter() - started
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--volumes", type=int, default=200)
    parser.add_argument("--containers", type=int, default=600)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blueprint.yaml"
        blueprint = generate_blueprint(args.networks, args.volumes, args.containers)
        path.write_text(yaml.safe_dump(blueprint, sort_keys=False))
        templated_path = Path(folder) / "templated.yaml"
        templated_path.write_text(yaml.safe_dump(templated(blueprint), sort_keys=False))

        results: dict[str, float] = {}
        loaded = measure("validate", results, load_blueprint, path)
        measure("validate (templates)", results, load_blueprint, templated_path)
        desired = measure("desired state", results, build_desired_state, loaded)
        empty_plan = measure("plan (empty engine)", results, plan_apply, desired, snapshot_from_lists({}))
        snapshot = snapshot_from_lists(matching_engine_lists(desired))
        clean_plan = measure("plan (no changes)", results, plan_apply, desired, snapshot)

        # Memory in a second pass: tracing allocations slows everything down.
        tracemalloc.start()
        plan_apply(build_desired_state(load_blueprint(path)), snapshot)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    resources = len(desired.resources)
    failures = []
    print(f"blueprint: {resources} resources ({args.networks} networks, {args.volumes} volumes, "
          f"{args.volumes // 2} volume containers, {args.containers} containers)")
    for label, seconds in results.items():
        target = MAX_SECONDS[label]
        verdict = "ok" if seconds <= target else "TOO SLOW"
        if seconds > target:
            failures.append(label)
        print(f"  {label:<22} {seconds:7.3f} s   target <= {target:.1f} s   {verdict}")
    peak_megabytes = peak / 1024 / 1024
    print(f"  {'peak memory':<22} {peak_megabytes:7.1f} MB  target <= {MAX_PEAK_MEGABYTES} MB   "
          f"{'ok' if peak_megabytes <= MAX_PEAK_MEGABYTES else 'TOO MUCH'}")
    if peak_megabytes > MAX_PEAK_MEGABYTES:
        failures.append("peak memory")

    if len(empty_plan.actions) != resources:
        failures.append(f"empty-engine plan has {len(empty_plan.actions)} actions, expected {resources}")
    if clean_plan.actions:
        failures.append(f"matching-engine plan has {len(clean_plan.actions)} actions, expected none "
                        f"(first: {clean_plan.actions[0].kind} {clean_plan.actions[0].resource})")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
