"""A city that brings its own bundle (`source: {kind: bundle}`): validated on every run, never written."""

import json
import shutil

import pytest
import yaml

from pipelines.cli import main
from tests.pipelines.conftest import CONFIG

pytestmark = pytest.mark.usefixtures("prefect_api")


def _own_city(run, root, source=None):
    """A config with `source` (default `kind: bundle`) over a copy of the test city's bundle (no truth)."""
    shutil.copytree(run["bundle"], root / "own" / "bundle")
    raw = yaml.safe_load(CONFIG.format(assets="unused.csv"))
    raw |= {"source": source or {"kind": "bundle"}, "paths": {"bundle": "own/bundle", "store": "store"}}
    config = root / "own.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config, root / "own" / "bundle"


def _snapshot(bundle):
    """Every file of the bundle, provenance.json and hidden files included: path -> bytes."""
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


def test_a_bundle_source_validates_trains_and_forecasts_leaving_every_file_as_it_was(run, tmp_path, capsys):
    config, bundle = _own_city(run, tmp_path)
    before = _snapshot(bundle)
    assert main(["validate", str(bundle), "--config", str(config)]) == 0
    assert main(["ingest", "--config", str(config)]) == 0
    assert _snapshot(bundle) == before
    assert main(["train", "--config", str(config)]) == 0
    assert main(["forecast", "--config", str(config)]) == 0
    assert "forecast.nc" in capsys.readouterr().out
    assert _snapshot(bundle) == before


def test_a_demo_ingest_refuses_to_write_over_a_bundle_it_did_not_make(run, tmp_path, capsys):
    config, bundle = _own_city(run, tmp_path, source=yaml.safe_load(CONFIG.format(assets="unused.csv"))["source"])
    record = json.loads((bundle / "provenance.json").read_text()) | {"source": "live"}
    (bundle / "provenance.json").write_text(json.dumps(record))
    before = _snapshot(bundle)
    assert main(["ingest", "--config", str(config)]) == 2
    assert "provenance.json: source is 'live', not 'demo'" in capsys.readouterr().err
    assert _snapshot(bundle) == before


@pytest.mark.parametrize("command", ["ingest", "train", "forecast"])
def test_a_bundle_source_refuses_a_changed_file_naming_it_and_the_field(run, tmp_path, capsys, command):
    config, bundle = _own_city(run, tmp_path)
    with (bundle / "obs/flood_events.csv").open("a") as events:
        events.write("2023-12-30,117.915,5.979,,a late report\n")
    assert main([command, "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "obs/flood_events.csv" in error and "sha256" in error
