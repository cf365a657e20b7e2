"""benchmarks.job_memory counts the memory of a job's child processes, not only of the command itself."""
import sys

from benchmarks.job_memory import measure

# The command holds ~10 MB; the child it starts touches 300 MB and holds it for a second.
CHILD = "b = bytearray(300 * 2**20); import time; time.sleep(1.0)"
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}], check=True)"


def test_peak_includes_the_child_process():
    report = measure([sys.executable, "-c", PARENT], interval=0.05)
    assert report["exit_code"] == 0
    assert report["peak_processes"] == 2
    assert 300 <= report["peak_pss_mb"] <= report["peak_rss_mb"] < 600


def test_exit_code_of_a_failing_job_is_reported():
    assert measure([sys.executable, "-c", "raise SystemExit(3)"], interval=0.05)["exit_code"] == 3
