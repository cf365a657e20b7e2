"""Container files: the Dockerfile and the Apptainer def parse, install from the one pinned list (requirements.lock),
and the Docker image (its base swapped for a local debootstrap image, since registries are unreachable) runs the
workflow's smoke job. Apptainer does not install on our machines; m3.def is built and tested on a cluster."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_testing import HERE, REPO
from spython.main.parse.parsers import DockerParser, SingularityParser

CONTAINERS = REPO / "containers"
LOCAL_BASE = "local/debian:bookworm-minbase"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def run_lines(dockerfile: str) -> list[str]:
    """The shell of every RUN instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line[len("RUN "):] for line in joined.splitlines() if line.startswith("RUN ")]


def test_dockerfile_parses_and_installs_only_from_the_lock():
    recipe = DockerParser(str(CONTAINERS / "Dockerfile")).parse()["spython-base"]
    assert recipe.fromHeader == "debian:bookworm-slim"
    assert ["requirements.lock", "/opt/m3/"] in recipe.files
    assert "PATH=/opt/venv/bin:$PATH" in recipe.environ and "MUJOCO_GL=egl" in recipe.environ
    steps = [step.strip() for line in run_lines((CONTAINERS / "Dockerfile").read_text()) for step in line.split(";")]
    pip_calls = [step for step in steps if "pip install" in step]
    assert len(pip_calls) == 2, pip_calls
    torch_call, rest_call = pip_calls
    assert '"$torch_pin"' in torch_call, "torch: the lock's pin, from the CUDA index"
    assert "torch_pin=\"$(grep '^torch==' /opt/m3/requirements.lock | sed 's/+cpu$//')\"" in steps
    assert "--no-deps" in rest_call and rest_call.endswith("-r /opt/m3/requirements.image.txt")
    assert "grep -v '^torch==' /opt/m3/requirements.lock > /opt/m3/requirements.image.txt" in steps
    torch_pins = [line for line in (REPO / "requirements.lock").read_text().splitlines() if line.startswith("torch==")]
    assert torch_pins == ["torch==2.13.0+cpu"], "the Dockerfile strips +cpu from exactly this pin"


def test_apptainer_def_parses_and_is_built_from_the_docker_image():
    text = (CONTAINERS / "m3.def").read_text()
    recipe = SingularityParser(str(CONTAINERS / "m3.def")).parse()["spython-base"]
    assert recipe.fromHeader == "m3:latest"
    assert re.search(r"^Bootstrap: docker-daemon$", text, re.M)
    assert {"%environment", "%test", "%help", "%labels"} <= set(re.findall(r"^%\w+", text, re.M))
    assert "PATH=/opt/venv/bin:$PATH" in recipe.environ
    assert "pip install" not in text, "no second dependency list: everything comes from the Docker image"


def test_build_script_and_compose_file():
    subprocess.run(["bash", "-n", str(CONTAINERS / "build.sh")], check=True)
    assert os.access(CONTAINERS / "build.sh", os.X_OK)
    compose = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())
    service = compose["services"]["m3"]
    assert service["image"] == "m3:latest" and "..:/work" in service["volumes"]
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


def pip_config(key: str) -> str | None:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
    return out.stdout.strip() or None


@pytest.mark.slow
@pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers `docker info`; the image build takes "
                    "~7 min on 2 cores, more than CI allows, so CI does not start one (docs/workflow.md)")
def test_docker_image_runs_the_smoke_job(workflow_dir, tmp_path):
    images = subprocess.run(["docker", "images", "-q", LOCAL_BASE], capture_output=True, text=True).stdout.strip()
    if not images:
        mirror = re.search(r"^URIs: (\S+)", Path("/etc/apt/sources.list.d/debian.sources").read_text(), re.M).group(1)
        rootfs = tmp_path / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], check=True,
                       capture_output=True)
        subprocess.run(f"tar -C {rootfs} -c . | docker import - {LOCAL_BASE}", shell=True, check=True)
    env = dict(os.environ, BASE_IMAGE=LOCAL_BASE)
    if pip_config("global.find-links"):  # the CPU torch wheel of our machines; PyPI's torch is the CUDA build
        env["M3_WHEELS"] = pip_config("global.find-links")
    if HOST_CA.is_file():  # pip inside the build trusts what the host trusts (TLS-intercepting proxies)
        env["M3_EXTRA_CA"] = str(HOST_CA)
    subprocess.run([str(CONTAINERS / "build.sh"), "docker"], env=env, check=True, capture_output=True)
    (workflow_dir / "cartpole.yaml").write_text((HERE / "cartpole.yaml").read_text())
    (workflow_dir / "short.yaml").write_text("benchmarks:\n  cartpole:\n    overrides: [epochs=2]\n")
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{workflow_dir}:/work",
                           "-v", f"{REPO}:{REPO}:ro", "m3:latest", "snakemake", "--profile", "profiles/local",
                           "all_cartpole", "--configfile", "cartpole.yaml", "short.yaml"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scores = workflow_dir / "results/smoke/scores/cartpole/CartPole-v1/seed0.json"
    assert scores.is_file() and '"benchmark": "cartpole"' in scores.read_text()
