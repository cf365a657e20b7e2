"""Container files, tested by what they do: the Dockerfile's install step, run with stand-in `python3`/`pip`,
installs exactly the pins of requirements.lock (torch from the CUDA index, the rest without resolving), its
command and the Apptainer def's %test run in an environment built from that lock, and the Docker image (its base
swapped for a local debootstrap image, since registries are unreachable) runs the workflow's smoke job.
Apptainer does not install on our machines; m3.def is built on a cluster."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_testing import HERE, REPO

CONTAINERS = REPO / "containers"
LOCAL_BASE = "local/debian:bookworm-minbase"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LOCK = REPO / "requirements.lock"

# Stand-ins for the image's `python3 -m venv DIR` and DIR/bin/pip: pip appends one line per call to $PIP_LOG,
# its arguments and, for `-r FILE`, the requirements it was given.
FAKE_PYTHON3 = """#!/bin/bash
[ "$1 $2" = "-m venv" ] || exit 1
mkdir -p "$3/bin"
cat > "$3/bin/pip" <<'PIP'
#!/bin/bash
args="$*"; reqs=""
while [ $# -gt 0 ]; do [ "$1" = -r ] && reqs="$(grep -v '^\\s*#' "$2" | tr '\\n' ' ')"; shift; done
echo "$args | $reqs" >> "$PIP_LOG"
PIP
chmod +x "$3/bin/pip"
"""


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, comments dropped and continuation lines joined."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def sections(path: Path) -> dict[str, list[str]]:
    """The %sections of an Apptainer def file: name -> its non-empty lines."""
    found, current = {}, None
    for line in path.read_text().splitlines():
        if line.startswith("%"):
            current = found.setdefault(line.split()[0], [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return found


def lock_pins() -> list[str]:
    return [line for line in LOCK.read_text().splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]


def test_dockerfile_installs_exactly_the_lock(tmp_path):
    steps = instructions(CONTAINERS / "Dockerfile")
    copied = [args.split() for name, args in steps if name == "COPY"]
    assert any(args[0] == "requirements.lock" for args in copied), copied
    install = [args for name, args in steps if name == "RUN" and "requirements.lock" in args]
    assert len(install) == 1, install
    opt, stubs, log = tmp_path / "opt", tmp_path / "bin", tmp_path / "pip.log"
    (opt / "m3" / "wheels").mkdir(parents=True)
    shutil.copy2(LOCK, opt / "m3" / "requirements.lock")
    stubs.mkdir()
    (stubs / "python3").write_text(FAKE_PYTHON3)
    (stubs / "python3").chmod(0o755)
    script = install[0].replace("/opt/", f"{opt}/").replace("/root/.cache", str(tmp_path / "cache"))
    env = dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", PIP_LOG=str(log), TORCH_INDEX_URL="https://idx")
    subprocess.run(["bash", "-c", script], env=env, check=True)
    calls = [line.split(" | ") for line in log.read_text().splitlines()]
    assert len(calls) == 2, calls
    (torch_args, _), (rest_args, rest_reqs) = calls
    torch_pin = next(pin for pin in lock_pins() if pin.startswith("torch=="))
    assert shlex.split(torch_args)[-3:] == ["--index-url", "https://idx", torch_pin.removesuffix("+cpu")]
    assert "--no-deps" in shlex.split(rest_args)
    assert sorted(rest_reqs.split()) == sorted(pin for pin in lock_pins() if pin != torch_pin)
    assert not (opt / "m3" / "wheels").exists(), "the wheels are removed from the image"


def test_image_environment_and_command_work_with_the_lock():
    steps = instructions(CONTAINERS / "Dockerfile")
    env = dict(item.split("=", 1) for name, args in steps if name == "ENV" for item in shlex.split(args))
    assert env["PATH"].startswith("/opt/venv/bin:") and env["MUJOCO_GL"] == "egl"
    command = yaml.safe_load(next(args for name, args in steps if name == "CMD"))  # the JSON form
    done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("torch ")


def test_apptainer_def_is_the_docker_image_and_its_test_passes():
    text = (CONTAINERS / "m3.def").read_text()
    header = dict(re.findall(r"^(Bootstrap|From): (\S+)$", text, re.M))
    assert header == {"Bootstrap": "docker-daemon", "From": "m3:latest"}
    parts = sections(CONTAINERS / "m3.def")
    assert "%post" not in parts, "no second dependency list: everything comes from the Docker image"
    exported = dict(line.removeprefix("export ").split("=", 1) for line in parts["%environment"])
    assert exported["PATH"].startswith("/opt/venv/bin:")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for line in parts["%test"]:
        subprocess.run(["bash", "-c", line], env=env, check=True, capture_output=True)


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
