"""The backtest flow on the session's second city: two origins over its last weeks."""

import dataclasses
import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure
from prefect.logging import disable_run_logger

from models.backtest_scores import flood_backtest_scores
from pipelines.cli import main
from pipelines.config import load_city_config
from pipelines.evaluation.fit import hindcast
from pipelines.evaluation.report import SECTIONS, _lines, write_report
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.flows.backtest import backtest
from pipelines.progress import progress_bar
from pipelines.templating import csp_hash
from pipelines.training.refit import load_inputs, retrain
from tests.pipelines.cf_checker import cf_findings, unexpected
from tests.pipelines.conftest_publish import HOSTILE, HOSTILE_ESCAPED

START, END = dt.date(2023, 11, 15), dt.date(2023, 12, 14)  # origins 15 Nov and 1 Dec


@pytest.fixture(scope="module")
def quick_city(city):
    """The session city with fewer bootstrap replicates; same bundle, store and features."""
    config = city.parent / "port-backtest.yaml"
    # Weeks of November and December as warm as Bayan Lepas's seldom reach 35 degC: lower heat levels,
    # so that level 1 has observed events to score.
    heat = "heat: {lead_days: 3, default_threshold_degC: 31.0}"
    assert heat in city.read_text()
    config.write_text(city.read_text().replace(heat, "heat: {lead_days: 3, default_threshold_degC: 31.0, "
                                                     "tasmax_levels_degC: [31, 33, 35]}")
                      + "backtest: {bootstrap_samples: 20}\n")
    return config


@pytest.fixture(scope="module")
def backtested(quick_city, run):
    return backtest(quick_city, START, END)


def test_backtest_writes_scores_hindcasts_record_and_report(backtested, run):
    folder = run["store"] / "backtests" / f"{START}_{END}"
    assert backtested["scores"] == [folder / "scores.nc"]
    assert [p.name for p in backtested["hindcasts"]] == ["2023-11-15.nc", "2023-12-01.nc"]
    with xr.open_dataset(backtested["hindcasts"][1]) as grid:
        assert pd.Timestamp(grid.issue_date.values[-1]) == pd.Timestamp(END)
        assert {"flood_probability", "flood_climatology", "flood_persistence", "tasmax_q50",
                "tasmax_regional"} <= set(grid)
        assert grid["tasmax_q50"].attrs["units"] == "degC"


def test_scores_nc_has_no_cf_finding(backtested):
    allowed = {  # scores.nc keeps weatherbench2's string-labelled dims (metric, model, zone, ...), read with
        # .sel(metric="brier"); the checker's monotonicity check subtracts their values and raises
        "check_coordinate_variables_strict_monotonicity": "string coordinate variables, see above"}
    assert unexpected(cf_findings(backtested["scores"][0]), allowed) == {}


def test_a_hindcast_has_no_cf_finding(backtested):
    allowed = {  # dims are the project's (issue_date, lead, y, x): lead is a second time axis that CF's
        # T, Z, Y, X order has no place for, and it belongs beside the issue date
        "§2.4 Dimensions": "lead between issue_date and y"}
    assert unexpected(cf_findings(backtested["hindcasts"][1]), allowed) == {}


def test_scores_cover_every_model_and_baseline_by_lead_with_intervals(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        assert scores["score"].dims == ("hazard", "target", "metric", "lead", "model", "zone", "period", "days")
        assert list(scores.lead.values) == [0, 1, 2] and set(scores.target.values) == {"observations", "truth"}
        headline = {"zone": "all", "period": "all", "days": "all"}
        flood = scores["score"].sel(hazard="flood", target="truth", lead=[0, 1], **headline)  # its two leads
        for model in ("model", "climatology", "persistence", "rain_rule", "static_susceptibility"):
            assert np.isfinite(flood.sel(model=model, metric="brier")).all(), model
        heat = scores.sel(hazard="heat", target="observations", metric="mae_degC", **headline)
        for model in ("model", "regional", "climatology", "persistence"):
            assert np.isfinite(heat["score"].sel(model=model)).all(), model
            assert (heat["ci_low"].sel(model=model) <= heat["ci_high"].sel(model=model)).all()


def test_scores_split_by_season_month_zone_and_wet_days(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        assert list(scores.period.values) == ["all", "DJFM", "ON", "Nov", "Dec"]  # valid days 15 Nov .. 15 Dec
        assert {"all", "buffer", "core", "rest"} <= set(scores.zone.values)  # and the warning areas'
        rows = scores["score"].sel(hazard="flood", target="truth", metric="n_rows", model="model", lead=0)
        assert rows.sel(zone="all", days="all", period="all") == rows.sel(zone="all", days="all",
                                                                          period=["DJFM", "ON"]).sum()
        assert rows.sel(zone="all", period="all", days="wet") < rows.sel(zone="all", period="all", days="all")
        assert np.isnan(scores["score"].sel(hazard="heat", metric="mae_degC", days="wet")).all()


def test_warning_areas_are_scored_by_area_with_levels_flip_flop_and_fss(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        areas = scores.sel(hazard="flood_area", target="truth", period="all", days="all")
        assert {"city", "site"} <= set(areas.zone.values)
        rows = areas["score"].sel(metric="n_rows", model="model", lead=0)
        assert rows.sel(zone="all") == rows.drop_sel(zone="all").sum()  # every area-day once, in one zone
        skill = areas["score"].sel(metric="brier_skill_score", zone="all", lead=[0, 1])  # the flood's leads
        assert np.isfinite(skill.sel(model="model")).all()
        baseline_alerts = areas["score"].sel(metric="n_alerts_level_1", model="climatology").values
        assert (np.nan_to_num(baseline_alerts) == 0).all()  # levels are the model's: a baseline issues none
        flips = scores["flip_flop_index"].sel(area_group="all")
        assert 0 <= float(flips.sel(area_levels="hysteresis")) <= float(flips.sel(area_levels="issued")) <= 1
        assert int(scores["flip_flop_pairs"].sel(area_group="all", area_levels="issued")) > 0  # what it rests on
        fss = scores["fractions_skill_score"].sel(target="truth")
        assert fss.sizes["fss_scale_m"] == 2 and np.isfinite(fss).any()


def test_flood_and_heat_levels_have_contingency_scores_with_intervals(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        assert list(scores.attrs["flood_level_bands"]) == [0.01, 0.05, 0.2]
        at = {"target": "truth", "model": "model", "zone": "all", "period": "all", "days": "all"}
        for k in (1, 2, 3):
            names = [f"{name}_level_{k}" for name in ("pod", "far", "csi", "frequency_bias")]
            assert set(names) <= set(scores.metric.values)
        pod = scores.sel(hazard="flood", metric="pod_level_1", lead=[0, 1], **at)  # the flood's two leads
        assert np.isfinite(pod["score"]).all() and np.isfinite(pod["ci_low"]).all()
        assert (pod["ci_low"] <= pod["ci_high"]).all()
        assert np.isfinite(scores["score"].sel(hazard="heat", metric="pod_level_1", lead=0,
                                               **at | {"target": "observations"}))


def test_heat_is_scored_at_its_three_leads_and_flood_at_its_two(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores, xr.open_dataset(backtested["hindcasts"][0]) as grid:
        assert list(scores.lead.values) == [0, 1, 2] and grid.sizes["lead"] == 3
        at = {"target": "observations", "model": "model", "zone": "all", "period": "all", "days": "all"}
        assert np.isfinite(scores["score"].sel(hazard="heat", metric="rmse_degC", **at)).all()
        flood = scores["score"].sel(hazard="flood", metric="roc_auc", **at)
        assert np.isfinite(flood.sel(lead=[0, 1])).all() and np.isnan(flood.sel(lead=2))
        assert np.isnan(grid["flood_probability"].isel(lead=2)).all()
        assert np.isfinite(grid["tasmax_q50"].isel(lead=2)).any()
        outcomes = scores["asset_outcome"].sel(target="truth")
        assert np.isnan(outcomes.sel(hazard="flood", lead=2)).all()  # no flood alert past the flood's leads
        assert np.isfinite(outcomes.sel(hazard="heat", lead=2)).any()


def test_each_sites_heat_levels_have_hit_and_false_alarm_rates_and_a_flip_flop_index(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        events, alerts = (scores[f"site_heat_level_{n}"].sel(target="truth") for n in ("events", "alerts"))
        assert events.sizes["heat_level"] == 3 and (events.sel(heat_level=1) >= events.sel(heat_level=2)).all()
        assert int(events.sel(heat_level=1).sum()) > 0  # levels from 31 degC: the weeks reach level 1
        hit = scores["site_heat_level_hit_rate"].sel(target="truth")
        seen = events > 0
        assert ((hit >= 0) & (hit <= 1)).where(seen, True).all() and np.isnan(hit.where(~seen, np.nan)).all()
        false = scores["site_heat_level_false_alarm_ratio"].sel(target="truth")
        assert np.isnan(false.where(alerts == 0)).all() and ((false >= 0) & (false <= 1)).where(alerts > 0, True).all()
        flips, pairs = scores["heat_level_flip_flop_index"], scores["heat_level_flip_flop_pairs"]
        assert int(pairs.sel(flip_flop_site="all")) == int(pairs.drop_sel(flip_flop_site="all").sum()) > 0
        assert 0 <= float(flips.sel(flip_flop_site="all")) <= 1


def test_scores_hold_per_cell_maps_and_the_asset_alert_calendar(backtested):
    with xr.open_dataset(backtested["scores"][0]) as scores:
        assert scores["brier_map"].dims == ("target", "y", "x") and scores["brier_map"].attrs["units"] == "1"
        assert np.nanmax(scores["brier_map"]) <= 1 and np.isfinite(scores["brier_map"]).sum() > 100
        bias = scores["heat_bias_map"]
        assert 0 < np.isfinite(bias.sel(target="observations")).sum() < 30  # station cells only
        assert np.isfinite(bias.sel(target="truth")).sum() > 100
        calendar = scores["asset_outcome"]
        assert calendar.sizes["asset"] == 5 and calendar.attrs["flag_meanings"].split()[1] == "hit"
        days = calendar.sel(hazard="flood", target="observations", lead=0).dropna("date", how="all")
        assert pd.Timestamp(days.date.values[0]) == pd.Timestamp(START) and days.sizes["date"] == 30
        codes = calendar.sel(hazard="heat", target="truth").values
        assert set(np.unique(codes[np.isfinite(codes)])) <= {0, 1, 2, 3}


def test_report_holds_every_section_with_embedded_plots(backtested):
    page = backtested["report"][0].read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in page
        body = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
        if section not in ("summary", "headline", "reproducibility"):
            assert "data:image/png;base64," in body, section
    body = page.split('<section id="reproducibility">')[0]  # the record may name a source's address
    assert "<script" not in page and "http://" not in body and "https://" not in body  # self-contained
    pairs = re.search(r"<th>pairs of issues</th></tr>\n<tr><td>all</td>(?:<td>[^<]*</td>){2}<td>(\d+)</td>", page)
    assert pairs and int(pairs[1]) > 0


def test_report_escapes_markup_in_the_record(backtested, tmp_path):
    record = json.loads(backtested["record"][0].read_text()) | {"city": HOSTILE, "code_version": HOSTILE}
    with xr.open_dataset(backtested["scores"][0]) as scores:
        heat_at_lead_0 = scores.isel(lead=[0]).sel(hazard=["heat"]).load()  # fewer plots to draw
    page = write_report(heat_at_lead_0, record, tmp_path / "report.html").read_text()
    assert "<img src=x" not in page and "<script" not in page
    assert f"<title>Backtest {HOSTILE_ESCAPED}</title>" in page and f"<h1>Backtest: {HOSTILE_ESCAPED}," in page
    assert f"Code {HOSTILE_ESCAPED}, seed" in page
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)[1]
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert policy == (f"default-src 'none'; style-src {csp_hash(style)}; img-src data:; base-uri 'none'; "
                      "form-action 'none'")  # its one stylesheet and its plots, nothing else


def _few_events_scores() -> xr.Dataset:
    """Flood scores against the truth of 40 rows a lead: 3 flooded at lead 0, 12 at lead 1. The model
    says 0.6 on the flooded rows and on two others, 0.1 elsewhere: 5 alerts at lead 0, 14 at lead 1."""
    flooded = np.concatenate([np.arange(40) < 3, np.arange(40) < 12])
    alerted = np.concatenate([np.arange(40) < 5, np.arange(40) < 14])
    rows = pd.DataFrame({"issue_date": np.tile(pd.date_range("2023-01-01", periods=40), 2),
                         "lead": np.repeat([0, 1], 40), "observed": flooded.astype(float), "weight": 1.0,
                         "model": np.where(alerted, 0.6, 0.1), "climatology": 0.2})
    scores = flood_backtest_scores(rows, ["model", "climatology"], reference="climatology", threshold=0.5,
                                   level_bands=(0.05, 0.5), seasons={}, n_boot=5, block_days=7, seed=0)
    return scores.expand_dims(hazard=["flood"], target=["truth"]).assign_attrs(
        bootstrap="5 replicates", flood_level_bands=[0.05, 0.5], heat_levels_degC=[35.0])


def _row(page: str, section: str, metric: str) -> str:
    """The model's row of `metric` in the first table of `section`."""
    body = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    return body.split(f'title="{metric}">', 1)[1].split("<td>model</td>", 1)[1].split("</tr>", 1)[0]


def test_report_tables_give_rows_and_events_and_mark_scores_on_too_few(tmp_path):
    record = {"city": "Tiny", "start": "2023-01-01", "end": "2023-02-10", "origins": [["2023-01-01", "2023-02-10"]],
              "code_version": "test", "seed": 0}
    page = write_report(_few_events_scores(), record, tmp_path / "report.html").read_text()
    lead_0, lead_1 = _row(page, "headline", "brier").split("</td><td")
    assert 'class="few"' in lead_0 and "&dagger;" in lead_0 and "n 40, 3 events" in lead_0
    assert "few" not in lead_1 and "&dagger;" not in lead_1 and "n 40, 12 events" in lead_1
    far_0, far_1 = _row(page, "headline", "far").split("</td><td")
    assert "&dagger;" in far_0 and "n 40, 5 alerts" in far_0 and "n 40, 14 alerts" in far_1
    level_0, _ = _row(page, "levels", "far_level_2").split("</td><td")
    assert "&dagger;" in level_0 and "n 40, 5 alerts" in level_0
    assert "rests on fewer than 10 events (alerts, for a FAR): not meaningful" in page
    assert "Hollow markers: the score rests on fewer than 10 events" in page


def test_report_names_each_metric_with_its_id_in_a_tooltip_and_says_when_an_interval_has_no_spread(tmp_path):
    record = {"city": "Tiny", "start": "2023-01-01", "end": "2023-02-10", "origins": [["2023-01-01", "2023-02-10"]],
              "code_version": "test", "seed": 0}
    scores = _few_events_scores()
    page = write_report(scores, record, tmp_path / "report.html").read_text()
    assert '<td class="metric" title="brier_skill_score">Brier skill score</td>' in page
    assert '<td class="metric" title="far_level_2">false alarm ratio, level 2</td>' in page
    # climatology is its own reference: a skill of 0 in every replicate, an interval without width
    at = {"hazard": "flood", "target": "truth", "metric": "brier_skill_score", "model": "climatology", "zone": "all",
          "period": "all", "days": "all", "lead": 0}
    assert float(scores["ci_low"].sel(**at)) == float(scores["ci_high"].sel(**at)) == 0
    headline = page.split('<section id="headline">', 1)[1].split("</section>", 1)[0]
    body = headline.split('title="brier_skill_score">Brier skill score</td><td>climatology</td>', 1)[1].split("</tr>")[0]
    assert body.count(" <small>no spread</small>") == 2 and "[0, 0]" not in page
    assert "No spread: every bootstrap replicate gave the same score" in page


def test_report_reproducibility_section_is_a_table_of_the_record(tmp_path):
    record = {"city": "Tiny", "start": "2023-01-01", "end": "2023-02-10", "seed": 3, "code_version": "abc123",
              "origins": [["2023-01-01", "2023-01-31"], ["2023-02-01", "2023-02-10"]],
              "libraries": {"numpy": "2.4.6"}, "input_sha256": {"obs/flood_events.csv": "f00d"},
              "config": {"flood": {"wet_day_mm": 20.0, "areas": {"site_radius_m": 250.0}},
                         "heat": {"quantiles": [0.1, 0.5, 0.9]}}}
    page = write_report(_few_events_scores(), record, tmp_path / "report.html").read_text()
    section = page.split('<section id="reproducibility">', 1)[1].split("</section>", 1)[0]
    assert "<pre>" not in section and "{" not in section
    for field, value in (("seed", "3"), ("code_version", "abc123"), ("2023-02-01", "to 2023-02-10"),
                         ("numpy", "2.4.6"), ("obs/flood_events.csv", "f00d"), ("flood.wet_day_mm", "20.0"),
                         ("flood.areas.site_radius_m", "250.0"), ("heat.quantiles", "0.1, 0.5, 0.9")):
        assert f"<tr><td>{field}</td><td>{value}</td></tr>" in section
    titles = re.findall(r"<h3>(.*?)</h3>", section)
    assert titles[0] == "Run" and titles[2:] == ["Library versions", "Inputs: SHA-256 of each file or folder",
                                                 "Configuration"]


def test_score_panels_give_each_leads_events_and_say_when_all_rest_on_too_few():
    scores = _few_events_scores()
    at = {"hazard": "flood", "target": "truth", "metric": "brier", "zone": "all", "period": "all", "days": "all"}
    both, first = Figure().subplots(1, 2)
    _lines(both, scores, at, ["model", "climatology"])
    assert [t.get_text() for t in both.get_xticklabels()] == ["0\n(3)", "1\n(12)"]
    assert not both.texts  # lead 1 rests on 12 events
    _lines(first, scores.isel(lead=[0]), at, ["model", "climatology"])
    assert [t.get_text() for t in first.texts] == ["fewer than 10 events:\nnot meaningful"]


def test_backtest_records_code_seed_libraries_and_input_hashes(backtested):
    record = json.loads(backtested["record"][0].read_text())
    assert record["seed"] == 1 and record["code_version"]
    assert record["origins"] == [["2023-11-15", "2023-11-30"], ["2023-12-01", "2023-12-14"]]
    assert {"lightgbm", "numpy"} <= set(record["libraries"])
    assert {"drivers", "static_features", "obs/flood_events.csv", "truth/tasmax.nc"} <= set(record["input_sha256"])


def test_rerun_gives_bit_for_bit_identical_scores(backtested, quick_city):
    first = xr.load_dataset(backtested["scores"][0])
    second = xr.load_dataset(backtest(quick_city, START, END)["scores"][0])
    xr.testing.assert_identical(first, second)


def test_progress_bar_stays_off_a_terminal(capsys):
    with progress_bar(2, "backtest") as step:
        step("retrained 2023-11-15")
        step("hindcast 2023-11-15")
    assert capsys.readouterr() == ("", "")


def test_cli_refuses_a_period_without_forecasts(quick_city, run, capsys):
    code = main(["backtest", "--config", str(quick_city), "--start", "2030-01-01", "--end", "2030-02-01"])
    assert code == 2
    assert "no forecast issued between 2030-01-01 and 2030-02-01" in capsys.readouterr().err


def _poisoned(inputs, cutoff: pd.Timestamp):
    """`inputs` with absurd drivers for issue dates after `cutoff`, and floods everywhere and 60 degC
    at every station on and after `cutoff` (the day `cutoff` itself is not known at its issue)."""
    drivers = inputs.drivers.copy(deep=True)
    later = drivers.issue_date > cutoff
    drivers = drivers.map(lambda da: xr.where(later, da * 0 + 999.0, da).transpose(*da.dims).astype(da.dtype))
    days = pd.date_range(cutoff, inputs.issue_dates[-1])
    everywhere = pd.DataFrame({"date": np.repeat(days, len(inputs.cells)),
                               "cell": np.tile(inputs.cells["cell"].to_numpy(), len(days))})
    flooded = pd.concat([inputs.flooded[inputs.flooded["date"] < cutoff], everywhere], ignore_index=True)
    temperature = inputs.temperature.copy()
    temperature.loc[temperature["date"] >= cutoff, "tasmax"] = 60.0
    return dataclasses.replace(inputs, drivers=drivers, flooded=flooded, temperature=temperature)


def test_hindcasts_never_see_data_from_after_their_issue_date(city, run, tmp_path):
    config = load_city_config(city)
    with disable_run_logger():
        paths = {"static": build_static_features.fn(config), "drivers": build_driver_history.fn(config)}
    inputs = load_inputs.fn(config, paths)
    origin, cutoff = dt.date(2023, 12, 1), pd.Timestamp("2023-12-04")
    window = inputs.issue_dates[(inputs.issue_dates >= pd.Timestamp(origin))
                                & (inputs.issue_dates <= pd.Timestamp("2023-12-08"))]
    clean_fit = retrain.fn(config, inputs, origin)
    clean = xr.load_dataset(hindcast.fn(config, inputs, clean_fit, window, tmp_path / "clean.nc"))
    poisoned = _poisoned(inputs, cutoff)
    dirty_fit = retrain.fn(config, poisoned, origin)
    dirty = xr.load_dataset(hindcast.fn(config, poisoned, dirty_fit, window, tmp_path / "dirty.nc"))

    assert (dirty_fit.forecasters.flood.booster.model_to_string()
            == clean_fit.forecasters.flood.booster.model_to_string())
    xr.testing.assert_identical(clean.sel(issue_date=slice(None, cutoff)), dirty.sel(issue_date=slice(None, cutoff)))
    after = {"issue_date": slice(cutoff + pd.Timedelta(days=1), None)}
    for name in ("flood_probability", "flood_persistence", "tasmax_q50"):  # the poison is there to see
        assert not clean[name].sel(after).equals(dirty[name].sel(after)), name
