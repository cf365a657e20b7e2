"""Fixtures of the workflow tests; they live in workflow_testing.py with the helpers the tests import."""

from workflow_testing import slurm_cluster, workflow_dir  # noqa: F401  (registers the fixtures)
