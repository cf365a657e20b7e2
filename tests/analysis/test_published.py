"""The shipped published baselines: checked offline against sources.json, re-fetched (here from a file:// mirror)
with the hashes checked before anything is replaced, and one clear line without a network."""

import json
import shutil

import pytest
from analysis_helpers import ROOT

from m3.analysis.published import PUBLISHED, load_sources, main, sha256

FILES = {"atari": ["EfficientZero", "HUMAN", "IRIS", "M3", "RANDOM", "REM", "SimPLe", "TWM", "dreamerv3"],
         "dmc": ["M3"], "craftax": ["M3", "craftax_baselines"]}


@pytest.fixture
def root(tmp_path):
    """A copy of the repository's results/published."""
    shutil.copytree(ROOT / PUBLISHED, tmp_path / PUBLISHED)
    return tmp_path


def test_every_shipped_file_is_recorded_with_its_url_and_hash(capsys):
    sources = load_sources(ROOT)
    assert sorted(s.path for s in sources) == sorted(f"{b}/{n}.json" for b, names in FILES.items() for n in names)
    commit = "82e3c1e7cbe7e32c80478526ae3fab3ad3806f62"
    for source in sources:
        assert source.url == f"https://raw.githubusercontent.com/leor-c/M3/{commit}/results/data/{source.path}"
        assert sha256((ROOT / PUBLISHED / source.path).read_bytes()) == source.sha256
    assert main(["--root", str(ROOT)]) == 0
    assert "12 published files" in capsys.readouterr().out


def test_a_changed_or_missing_file_is_named(root, capsys):
    path = root / PUBLISHED / "dmc" / "M3.json"
    path.write_text(json.dumps({"cheetah-run": [1.0]}))
    assert main(["--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path} has sha256" in err[0] and "not the published file" in err[0]
    path.unlink()
    assert main(["--root", str(root)]) == 2
    assert "is missing: `git checkout -- results/published/dmc/M3.json`" in capsys.readouterr().err


def test_fetch_replaces_files_only_when_every_hash_matches(root, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(ROOT / PUBLISHED, mirror)
    target = root / PUBLISHED / "atari" / "M3.json"
    original = target.read_bytes()
    target.write_text("{}")
    assert main(["--root", str(root), "--fetch", "--base-url", mirror.as_uri()]) == 0
    assert target.read_bytes() == original and "fetched and checked" in capsys.readouterr().out

    (mirror / "craftax" / "M3.json").write_text("[]")  # a mirror serving a different file
    target.write_text("{}")
    assert main(["--root", str(root), "--fetch", "--base-url", mirror.as_uri()]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "craftax/M3.json has sha256" in err[0] and "nothing was replaced" in err[0]
    assert target.read_text() == "{}"


def test_fetch_without_a_network_stops_with_one_line(root, capsys):
    assert main(["--root", str(root), "--fetch", "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot fetch http://127.0.0.1:9/" in err[0] and "needs a network" in err[0]
