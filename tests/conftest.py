"""Suite-wide hooks."""

from collections import defaultdict

import pytest

from m3.rng import seed_everything


@pytest.fixture(autouse=True)
def seeded_random_streams():
    """Every test starts from the same Python, NumPy and torch random streams, so a test that draws random inputs
    without seeding them sees the same inputs in every run, whatever ran before it on its worker."""
    seed_everything(0)


def pytest_collection_modifyitems(items):
    """The longest files first, so that `make test`'s workers (xdist, a file per worker, in this order) start them
    at once instead of ending the run on one of them while the others idle: files by the summed `minutes` of their
    `slow` marks, then the other files with slow tests, then the rest; each file's tests stay together and in
    order."""
    minutes, slow = defaultdict(float), set()
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            slow.add(item.path)
            minutes[item.path] += float(mark.kwargs.get("minutes", 0))
    items.sort(key=lambda item: (-minutes[item.path], item.path not in slow))
