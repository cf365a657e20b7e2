"""The peak memory of one job's whole process tree (the command and every process it starts: env workers, their
forkserver), printed as JSON, to size `mem_mb` of the workflow's jobs (config/config.yaml, docs/workflow.md).

The tree is sampled every --interval seconds: the peak of the summed resident set (RSS, an upper bound: pages
shared between processes count once per process) and of the summed proportional set (PSS, shared pages split
between their sharers: what a cgroup memory limit sees, near enough), and the most processes seen at once.
Sizes are in MiB (2**20 bytes), the unit of SLURM's --mem, which a job's `mem_mb` is passed as.
Snakemake's own `benchmark:` files sample every 30 s, which misses the peak of a job that lasts a minute.
Usage (repository root):
    python -m benchmarks.job_memory [--interval 0.2] -- python -m m3.evaluate run_dir=... episodes=2 envs=2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time

import psutil

MIB = 2**20


def tree_memory(root: psutil.Process) -> tuple[int, int, int]:
    """(summed RSS, summed PSS, process count) of `root` and its descendants; processes gone meanwhile are skipped."""
    rss = pss = count = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss, pss, count = rss + info.rss, pss + info.pss, count + 1
    return rss, pss, count


def measure(command: list[str], interval: float) -> dict:
    start = time.perf_counter()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peak_rss = peak_pss = peak_count = 0
    while child.poll() is None:
        rss, pss, count = tree_memory(root)
        peak_rss, peak_pss, peak_count = max(peak_rss, rss), max(peak_pss, pss), max(peak_count, count)
        time.sleep(interval)
    return {
        "command": command,
        "exit_code": child.returncode,
        "wall_s": round(time.perf_counter() - start, 1),
        "interval_s": interval,
        "peak_rss_mb": round(peak_rss / MIB),
        "peak_pss_mb": round(peak_pss / MIB),
        "peak_processes": peak_count,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the job's command, after --")
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the job's command after --")
    print(json.dumps(measure(command, args.interval), indent=2))


if __name__ == "__main__":
    main()
