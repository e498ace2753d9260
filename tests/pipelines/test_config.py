"""load_city_config accepts the shipped configs and names the file and field of every mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipelines.config import ConfigError, load_city_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEMO = CONFIGS / "demo.yaml"


def write_config(tmp_path: Path, change=None, text: str | bytes | None = None) -> Path:
    """The demo config with `change(raw)` applied to its parsed YAML, or `text` as written."""
    path = tmp_path / "city.yaml"
    if text is None:
        raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
        change(raw)
        text = yaml.safe_dump(raw)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def setting(section: str, **values):
    """A change to the parsed YAML that sets `values` in `section` ("" for the top level)."""
    return lambda raw: (raw[section] if section else raw).update(values)


def raises_for(path: Path, field: str, detail: str):
    """pytest.raises matching a ConfigError that names `path`, then `field`, then `detail`."""
    pattern = rf"^{re.escape(str(path))}: (.|\n)*{re.escape(field)}(.|\n)*{detail}"
    return pytest.raises(ConfigError, match=pattern)


@pytest.mark.parametrize("name", ["demo.yaml", "george_town.yaml"])
def test_shipped_configs_load(name):
    config = load_city_config(CONFIGS / name)
    assert config.grid.crs == "EPSG:32647"
    assert config.city.timezone == "Asia/Kuala_Lumpur"
    assert config.bundle_dir.is_absolute() and config.bundle_dir.parts[-1] == "bundle"


def test_demo_config_source_is_the_demo_world():
    config = load_city_config(str(DEMO))  # a str path works too
    assert config.source.kind == "demo" and config.source.seed == 20080707
    assert config.truth_dir == config.bundle_dir.parent / "truth"


def test_relative_paths_start_at_the_config_folder(tmp_path):
    path = write_config(tmp_path, setting("paths", bundle="data/bundle"))
    assert load_city_config(path).bundle_dir == tmp_path / "data" / "bundle"


def test_an_asset_csv_path_starts_at_the_config_folder_and_a_keyword_stays(tmp_path):
    path = write_config(tmp_path, setting("source", assets="sites/heritage.csv"))
    assert load_city_config(path).source.assets == str(tmp_path / "sites" / "heritage.csv")
    assert load_city_config(write_config(tmp_path, setting("source", assets="george-town"))).source.assets == "george-town"


def test_tide_constants_keep_a_gauge_keyword_and_resolve_a_path_at_the_config_folder(tmp_path):
    assert load_city_config(CONFIGS / "george_town.yaml").source.open_meteo.tide_constants == "penang"
    live = yaml.safe_load((CONFIGS / "george_town.yaml").read_text(encoding="utf-8"))
    live["source"]["open_meteo"]["tide_constants"] = "tides/gauge.json"
    path = write_config(tmp_path, text=yaml.safe_dump(live))
    assert load_city_config(path).source.open_meteo.tide_constants == str(tmp_path / "tides" / "gauge.json")


def test_a_live_config_must_state_the_mean_sea_level_above_egm2008(tmp_path):
    live = yaml.safe_load((CONFIGS / "george_town.yaml").read_text(encoding="utf-8"))
    assert load_city_config(CONFIGS / "george_town.yaml").source.copernicus_dem.msl_above_egm2008_m is None
    del live["source"]["copernicus_dem"]["msl_above_egm2008_m"]
    path = write_config(tmp_path, text=yaml.safe_dump(live))
    with pytest.raises(ConfigError, match=r"city\.yaml: source\.live\.copernicus_dem\.msl_above_egm2008_m: Field required"):
        load_city_config(path)


def test_a_bundle_source_needs_only_its_kind_and_points_at_the_bundle_folder(tmp_path):
    path = write_config(tmp_path, lambda raw: raw.update(source={"kind": "bundle"}, paths={"bundle": "own/bundle",
                                                                                          "store": "store"}))
    config = load_city_config(path)
    assert config.source.kind == "bundle" and config.bundle_dir == tmp_path / "own" / "bundle"


INVALID = {  # case: (change to the demo config, field the error names, detail it gives)
    "misspelt-key": (setting("grid", resolutoin_m=30), "grid.resolutoin_m", "Extra inputs"),
    "wrong-type": (setting("heat", lead_days="three"), "heat.lead_days", "valid integer"),
    "heat-beyond-ten-days": (setting("heat", lead_days=11), "heat.lead_days", "less than or equal to 10"),
    "top-level-lead-days": (setting("", lead_days=3), "lead_days", "Extra inputs"),
    "number-for-text": (setting("city", timezone=5), "city.timezone", "valid string"),
    "zero-resolution": (setting("grid", resolution_m=0), "grid.resolution_m", "greater than 0"),
    "negative-resolution": (setting("grid", resolution_m=-30), "grid.resolution_m", "greater than 0"),
    "inverted-x": (setting("grid", bounds=[650100, 596400, 642300, 602100]), "grid", "bounds .* inverted"),
    "inverted-y": (setting("grid", bounds=[642300, 602100, 650100, 596400]), "grid", "bounds .* inverted"),
    "nan-bounds": (setting("grid", bounds=[float("nan"), 596400, 650100, 602100]), "grid", "must be finite"),
    "unknown-crs": (setting("grid", crs="EPSG:999999"), "grid.crs", "unknown CRS 'EPSG:999999'"),
    "geographic-crs": (setting("grid", crs="EPSG:4326"), "grid.crs", "'EPSG:4326' is not projected"),
    "unknown-timezone": (setting("city", timezone="Asia/Penang"), "city.timezone", "unknown time zone"),
    "unknown-source": (setting("source", kind="dmeo"), "source", "'dmeo'"),
    "negative-members": (setting("source", ensemble_members=-1), "source.demo.ensemble_members", "greater than or equal to 0"),
    "reversed-member-issues": (setting("source", ensemble_issues=["2024-12-31", "2024-01-01"]), "source.demo",
                               "ensemble_issues must start on or before its end"),
    "missing-section": (lambda raw: raw.pop("alerts"), "alerts", "Field required"),
    "bundle-with-start": (lambda raw: raw.update(source={"kind": "bundle", "start": "2019-01-01"}),
                          "source.bundle.start", "Extra inputs"),
}


@pytest.mark.parametrize(("change", "field", "detail"), INVALID.values(), ids=INVALID.keys())
def test_invalid_config_names_file_and_field(tmp_path, change, field, detail):
    path = write_config(tmp_path, change)
    with raises_for(path, f"{field}: ", detail):
        load_city_config(path)


def test_bad_yaml_names_the_file(tmp_path):
    path = write_config(tmp_path, text="city: [unclosed\n  name: x\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: cannot read YAML: .*flow sequence"):
        load_city_config(path)


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    path = write_config(tmp_path, text=b"\xff\xfe\x00city\x81")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: cannot read YAML: .*utf-8"):
        load_city_config(path)


@pytest.mark.parametrize(("text", "found"), [("", "NoneType"), ("- a\n- b\n", "list")])
def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path, text, found):
    path = write_config(tmp_path, text=text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: expected a mapping .*got {found}"):
        load_city_config(path)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: cannot read YAML: .*No such file"):
        load_city_config(path)
