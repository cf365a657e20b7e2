"""Suite-wide hooks."""


def pytest_collection_modifyitems(items):
    """Files with slow tests first (each file's tests stay together and in order): `make test`'s workers then start
    the longest files at once instead of ending the run on one of them while the other workers idle."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
