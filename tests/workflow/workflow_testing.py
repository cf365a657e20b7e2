"""Helpers and fixtures of the workflow tests (registered in conftest.py): a scratch copy of the workflow, the real
`snakemake` CLI, and a real single-node SLURM cluster (munge, slurmctld, slurmd from Debian's packages) on localhost
(docs/workflow.md, Tests). Test modules import from here, not from conftest (other test folders have a conftest too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")
HERE = Path(__file__).resolve().parent


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "repo")


def copy_workflow(root: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, profiles, configs, dvc.yaml, published baselines) in the scratch
    folder `root`; the m3 package is linked, so the jobs run the repo's code."""
    root.mkdir()
    shutil.copy2(REPO / "Snakefile", root)
    for folder in ("workflow", "profiles"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "config").mkdir()
    for name in ("config.yaml", "analysis.yaml"):
        shutil.copy2(REPO / "config" / name, root / "config" / name)
    if (REPO / "dvc.yaml").is_file():
        shutil.copy2(REPO / "dvc.yaml", root)
    if (REPO / "results" / "published").is_dir():
        shutil.copytree(REPO / "results" / "published", root / "results" / "published")
    (root / "m3").symlink_to(REPO / "m3")
    return root


def snakemake(cwd: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `snakemake` in `cwd`; output captured as text. A hung run is killed after `timeout` s."""
    full_env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **(env or {}))
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def install_profiles(xdg: Path) -> None:
    """The README set-up step: `make install-profiles`, with the user config dir under `xdg`."""
    subprocess.run(["make", "-C", str(REPO), "install-profiles"], env=dict(os.environ, XDG_CONFIG_HOME=str(xdg)),
                   check=True, capture_output=True, text=True)


# ----------------------------------------------------------------------------------------------------------------
# A single-node SLURM cluster on localhost.

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol")
SLURM_CONF = Path("/etc/slurm/slurm.conf")  # the jobstep plugin drops SLURM_CONF, so the default path is required

SLURM_TEMPLATE = """\
ClusterName=m3test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job may start again only after cred_expire seconds (default 120).
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    base: Path

    def squeue(self) -> list[tuple[str, str, str]]:
        """(job id, state, comment) of every job slurmctld still knows (MinJobAge keeps finished ones)."""
        out = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True,
                             check=True).stdout
        return [tuple(line.split("|", 2)) for line in out.splitlines() if line.strip()]


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def _wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"local SLURM: timed out waiting for {what}")
        time.sleep(0.2)


def _node_memory_mb() -> int:
    """About 85% of the RealMemory `slurmd -C` reports."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    real = int(out.split("RealMemory=")[1].split()[0])
    return int(real * 0.85)


def _start_munge() -> Path | None:
    """Start munged unless one runs already; the pid file to stop it with, or None if it was running."""
    if _running("munged"):
        return None
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create"], check=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
    _wait("munged", lambda: subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0, 10)
    return run_dir / "munged.pid"


def _stop_pid(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """munged, slurmctld and slurmd on localhost, with slurm.conf at /etc/slurm/slurm.conf; stopped afterwards."""
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM binaries absent ({', '.join(missing)}): apt-get install slurm-wlm munge (.ci/run does)")
    if _running("slurmctld") or _running("slurmd"):
        raise RuntimeError("a slurmctld/slurmd already runs on this machine; stop it before the SLURM tests")
    base = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log"):
        (base / sub).mkdir()
    conf = base / "slurm.conf"
    conf.write_text(SLURM_TEMPLATE.format(base=base, cpus=os.cpu_count(), memory=_node_memory_mb()))
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if SLURM_CONF.exists() or SLURM_CONF.is_symlink():
        backup = SLURM_CONF.with_name("slurm.conf.m3-test-backup")
        SLURM_CONF.rename(backup)
    SLURM_CONF.symlink_to(conf)
    munge_pid = _start_munge()
    try:
        subprocess.run(["slurmctld"], check=True)
        subprocess.run(["slurmd", "-N", "localhost"], check=True)
        _wait("the node to be idle", lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                                            text=True).stdout.strip() == "idle", 30)
        yield SlurmCluster(base)
    finally:
        subprocess.run(["scontrol", "shutdown"], capture_output=True)
        for name in ("slurmctld.pid", "slurmd.pid"):
            _stop_pid(base / name)
        if munge_pid is not None:
            _stop_pid(munge_pid)
        SLURM_CONF.unlink()
        if backup is not None:
            backup.rename(SLURM_CONF)
