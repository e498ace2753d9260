"""A second synthetic city, shaped unlike George Town, through all four flows from its config alone."""

import datetime as dt
import json
import shutil
import subprocess
import sys

import capvalidator
import numpy as np
import pytest
import shapely
import xarray as xr
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from models.verification import flood_scores
from pipelines import flows
from pipelines.bundle.validate import BundleError
from pipelines.cli import _print_outputs, main
from pipelines.training.flood import score_lines
from tests.pipelines.conftest import CONFIG
from tests.pipelines.test_alerts_delivery import Webhook, free_port

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_forecast_netcdf_carries_cf_metadata_on_every_variable(run):
    (path,) = run["written"]["netcdf"]
    assert path.parent.name == "2023-12-31"
    with xr.open_dataset(path, decode_coords="all") as forecast:
        assert forecast.rio.crs.to_epsg() == 32650
        assert forecast.sizes["lead"] == 3  # heat's three lead days; flood's two, then NaN with a comment
        flood = forecast["flood_probability"].where(forecast["land"].astype(bool))
        assert np.isfinite(flood.isel(lead=1)).any() and np.isnan(flood.isel(lead=2)).all()
        assert "flood is forecast 2 days ahead" in flood.attrs["comment"]
        for name in ("flood_probability", "tasmax_q10", "tasmax_q50", "tasmax_q90"):
            variable = forecast[name]
            assert {"units", "long_name"} <= set(variable.attrs), name
            values = variable.values[np.isfinite(variable.values)]
            assert values.size > 0
        assert "standard_name" in forecast["tasmax_q50"].attrs
        probability = forecast["flood_probability"].values
        assert np.nanmin(probability) >= 0 and np.nanmax(probability) <= 1
        assert (np.diff(np.stack([forecast[f"tasmax_q{q}"].values for q in (10, 50, 90)]), axis=0)
                >= -1e-6)[..., forecast["land"].values.astype(bool)].all()


def test_the_forecast_publishes_each_site_s_hours_and_lists_them_in_the_stac_item(run):
    (path,) = run["written"]["site_hours"]
    assert path.name == "site_hours.nc" and path.parent.name == "2023-12-31"
    with xr.open_dataset(path) as hours:
        assert hours.sizes["site"] == 5 and hours.sizes["time"] == 24 * 3  # the port's five assets, heat's 3 days
        wbgt = hours["wbgt_degC"].values
        assert np.isfinite(wbgt).any() and np.nanmax(wbgt) < 40
    item = json.loads((path.parent / "item.json").read_text())
    assert item["assets"]["site_hours.nc"]["href"] == "./site_hours.nc"


def test_the_forecast_gives_each_warning_area_a_chance_and_a_level(run):
    (path,) = run["written"]["netcdf"]
    with xr.open_dataset(path) as forecast:
        ids = list(forecast["area_id"].values)
        assert ids[0] == "city" and any(i.startswith("site-") for i in ids)
        outlines = shapely.from_wkt(forecast["area_geometry"].values)
        x0, x1 = float(forecast.x.min()), float(forecast.x.max())
        assert all(o.is_valid and x0 - 60 <= o.bounds[0] <= o.bounds[2] <= x1 + 60 for o in outlines)
        assert np.isnan(forecast["area_flood_probability"].isel(lead=2)).all()  # past the flood's two days
        forecast = forecast.isel(lead=[0, 1])
        chance = forecast["area_flood_probability"].values
        assert chance.shape == (2, len(ids)) and ((chance >= 0) & (chance <= 1)).all()
        thresholds = forecast["area_flood_level"].attrs["level_thresholds"]
        expected = sum((chance >= t).astype(int) for t in thresholds if np.isfinite(t))
        assert (forecast["area_flood_level"].values == expected).all()  # the level is the thresholds reached
        first = forecast["flood_where_first"].values[:, forecast["land"].values.astype(bool)]
        assert np.nanmin(first) >= 0 and np.nanmax(first) <= 1


def test_every_geotiff_is_a_valid_cog(run):
    cogs = run["written"]["cog"]
    assert len(cogs) == 2 * 2 + 3 * 3  # flood chance and level at 2 leads; MET level, WBGT band, max temperature at 3
    for path in cogs:
        valid, errors, _ = cog_validate(path)
        assert valid, (path, errors)


def test_maps_exist_per_lead(run):
    maps = run["written"]["map"]
    assert [p.name for p in maps] == ["map_d0.png", "map_d1.png", "map_d2.png"]  # the last says flood stops
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in maps)


def test_alerts_are_valid_cap(run):
    messages = run["written"]["cap"]
    assert messages, "the low test thresholds should raise at least one alert"
    for path in messages:
        result = capvalidator.check_schema(path.read_bytes())
        assert result.passed, (path, result.message)


def test_model_cards_hold_the_time_ordered_held_out_scores(run):
    for hazard in ("flood", "heat"):
        models = run["store"] / "models" / hazard
        card = json.loads((models / (models / "LATEST").read_text().strip() / "card.json").read_text())
        assert card["period"]["train_end"] < card["period"]["test_start"]
        assert card["scores"]["test"]["n_rows"] > 0
        if hazard == "flood":
            assert card["scores"]["test"]["too_few_events"] == (card["scores"]["test"]["n_positive"] < 10)
        assert card["data_hashes"]["static_features"]
        assert card["libraries"]["lightgbm"]
    heat = run["cards"]["heat"]["scores"]["test"]
    assert 0 <= heat["interval_coverage"] <= 1 and heat["mae_degC"] < 5


def test_the_card_log_lines_say_when_a_score_rests_on_too_few_events():
    def on(n_events: int) -> dict:  # a flat forecast on 40 rows, `n_events` flooded
        return flood_scores(np.full(40, 0.1), (np.arange(40) < n_events).astype(float), np.ones(40), 0.1,
                            threshold=0.5)

    lines = score_lines({"reports": {"all": {"model": {"all": on(3), "0": on(12)}}}})
    assert lines[0].startswith("flood reports/all model lead all:")
    assert lines[0].endswith("(n=40, +3) (too few events)")
    assert lines[1].endswith("(n=40, +12)")


def test_the_flood_card_has_its_reliability_diagram_beside_it(run):
    models = run["store"] / "models" / "flood"
    folder = models / (models / "LATEST").read_text().strip()
    card = json.loads((folder / "card.json").read_text())
    assert card["figures"] == ["reliability.png"]
    with Image.open(folder / "reliability.png") as image:
        image.verify()
        rows = sum(len(subsets) for subsets in card["scores"]["evaluation"].values())  # target x days
        assert image.format == "PNG" and image.height > 250 * rows


def test_a_rerun_of_the_features_recomputes_nothing(run, city):
    paths = flows.build_features(city)
    stamps = {name: path.stat().st_mtime_ns for name, path in paths.items()}
    again = flows.build_features(city)
    assert again == paths
    assert {name: path.stat().st_mtime_ns for name, path in again.items()} == stamps


def test_a_corrupt_bundle_is_refused_and_the_published_forecast_kept(run, city, tmp_path):
    published = run["store"] / "forecasts" / "2023-12-31"
    before = {p.name: p.read_bytes() for p in published.glob("*.*")}
    broken = city.parent / "port" / "broken"
    shutil.copytree(run["bundle"], broken)
    history = broken / "weather" / "history.nc"
    history.write_bytes(history.read_bytes()[:1000])
    config = tmp_path / "broken.yaml"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {broken}")
                      .replace("store: store", f"store: {city.parent / 'store'}"))
    with pytest.raises(BundleError, match="weather/history.nc"):
        flows.daily_forecast(config)
    assert {p.name: p.read_bytes() for p in published.glob("*.*")} == before


def test_validate_command_reports_a_valid_bundle_copied_elsewhere_without_a_config(run, tmp_path, capsys):
    # The time zone of the issue dates comes from provenance.json, which the demo writes: all is checked.
    elsewhere = shutil.copytree(run["bundle"], tmp_path / "bundle")
    assert main(["validate", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"{elsewhere}: valid")
    assert "warning" not in out


def test_forecast_without_a_trained_model_says_what_to_run(run, city, tmp_path, capsys):
    config = tmp_path / "untrained.yaml"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {city.parent / 'port' / 'bundle'}")
                      .replace("store: store", f"store: {tmp_path / 'empty-store'}"))
    assert main(["forecast", "--config", str(config)]) == 2
    assert "run `warisan train` first" in capsys.readouterr().err


def test_a_bad_config_exits_with_its_file_and_field(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text(CONFIG.format(assets="x.csv").replace("resolution_m: 50", "resolutoin_m: 50"))
    assert main(["train", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert str(config) in error and "grid.resolutoin_m" in error


def test_a_rerun_swaps_the_whole_issue_folder_at_once(run, city):
    final = run["store"] / "forecasts" / "2023-12-31"
    first = final.resolve()
    flows.daily_forecast(city)
    assert final.is_symlink() and final.resolve() != first
    assert not first.exists()  # the replaced version is gone, the published one complete
    assert {p.name for p in final.iterdir()} >= {"forecast.nc", "map_d0.png", "alerts"}


def test_a_drill_run_sends_its_alerts_as_test_messages(run, city, tmp_path):
    config = tmp_path / "actual.yaml"
    config.write_text(city.read_text().replace("status: Test", "status: Actual")
                      .replace("bundle: port/bundle", f"bundle: {city.parent / 'port' / 'bundle'}")
                      .replace("store: store", f"store: {tmp_path / 'store'}"))
    flows.train(config)
    written = flows.daily_forecast(config, drill=True)
    assert written["cap"]
    assert all(b"<status>Test</status>" in path.read_bytes() for path in written["cap"])


def test_a_late_forecast_and_a_failed_source_are_published_marked_stale(run, city, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(run["bundle"], bundle)
    provenance = json.loads((bundle / "provenance.json").read_text())
    provenance["stale_sources"] = {"open-meteo": {"last_success": "2023-12-30T21:00:00Z", "error": "HTTP 503"}}
    (bundle / "provenance.json").write_text(json.dumps(provenance))
    config = tmp_path / "late.yaml"
    hook = Webhook(free_port())
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {bundle}")
                      .replace("store: store", f"store: {tmp_path / 'store'}")
                      .replace("status: Test}", f"status: Test, channels: {{ops: {{url: 'json://127.0.0.1:{hook.port}/ops'}}}}, "
                                                "operators: [ops]}")
                      + "output: {on_missing_forecast: stale}\n")
    flows.train(config)
    hook.start()
    try:
        written = flows.daily_forecast(config, dt.date(2024, 1, 1))  # the last forecast was issued 2023-12-31
    finally:
        hook.stop()
    (path,) = written["netcdf"]
    reason = "open-meteo data is stale (last success 2023-12-30T21:00:00Z): HTTP 503"
    with xr.open_dataset(path) as forecast:
        assert "published from the forecast of 2023-12-31" in forecast.attrs["stale"]
        assert reason in forecast.attrs["stale"]
    (notice,) = [body for headers, body in hook.posts if headers["X-Warisan-Message"] == "notice.stale.2024-01-01"]
    assert reason in notice["message"]
    assert written["cap"]
    for message in written["cap"]:
        xml = message.read_bytes()
        assert b"<note>" in xml and b"stale" in xml
        assert capvalidator.check_schema(xml).passed


def test_each_manager_gets_a_map_cropped_to_their_sites(run, city, tmp_path):
    config = tmp_path / "managed.yaml"
    config.write_text(city.read_text()
                      .replace("bundle: port/bundle", f"bundle: {city.parent / 'port' / 'bundle'}")
                      .replace("store: store", f"store: {tmp_path / 'store'}")
                      .replace("status: Test}", "status: Test, managers: [{id: harbour-board, "
                               "name: Harbour board, assets: [PT-02]}]}"))
    flows.train(config)
    written = flows.daily_forecast(config)
    crops = [p for p in written["digest_map"] if p.name.startswith("harbour-board_map_d")]
    assert [p.name for p in crops] == ["harbour-board_map_d0.png", "harbour-board_map_d1.png", "harbour-board_map_d2.png"]
    html = (crops[0].parent / "harbour-board.html").read_text()
    assert 'src="harbour-board_map_d0.png"' in html


def test_a_bad_date_on_the_command_line_prints_one_line_not_a_traceback(run, city):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "forecast", "--config", str(city),
                           "--date", "2030-01-01"], capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "error: " in done.stderr and "no forecast issued on 2030-01-01 (forecasts run" in done.stderr
    assert len(output.splitlines()) < 15, output


def test_the_command_prints_where_outputs_went_a_line_per_kind_and_what_to_open_first(tmp_path, capsys):
    day = tmp_path / "forecasts" / "2024-12-31"
    written = {"netcdf": [day / "forecast.nc"], "page": [day / "index.html"],
               "cap": [day / "alerts" / f"GT-{k:02d}.cap.xml" for k in range(5)],
               "stac": [day / "item.json", tmp_path / "catalog.json"]}
    _print_outputs(written)
    out = capsys.readouterr().out.splitlines()
    assert f"Published in {day}:" in out
    assert "  cap        5 files in alerts/" in out and "  netcdf     forecast.nc" in out
    assert out[-1] == f"Open first: {day / 'index.html'}"
    assert len(out) == 8  # a blank line, the folder, four kinds, a blank line, what to open
