"""The archive and verification pages of a store, opened from a file in headless Chromium."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pyproj import Transformer

from pipelines.publish.archive import write_archive
from pipelines.publish.areas import write_area_files
from pipelines.publish.grid import with_levels
from pipelines.publish.stac import forecast_item, write_catalog, write_item
from tests.pipelines.conftest_publish import HOTSPOT, cell_centre, small_forecast, with_warning_areas
from tests.pipelines.test_page import chromium, csp_violations, needs_chromium

DATES = ("2024-12-24", "2024-12-25", "2024-12-26")  # every day: city and site-hot at level 1, the rest 0
MAP_RGB = (200, 30, 160)  # the briefing maps' one colour, to find them in a screenshot


def _publish(city_store: Path, issue_date: str) -> None:
    """One issue date's folder as the forecast flow leaves it, with the files the archive reads."""
    folder = city_store / "forecasts" / issue_date
    folder.mkdir(parents=True)
    reference = np.datetime64(f"{issue_date}T00:00:00", "ns") - np.timedelta64(8, "h")
    forecast = with_levels(with_warning_areas(small_forecast()), flood_bands=(0.01, 0.05, 0.2),
                           heat_bands_degC=(35, 37, 40))
    forecast = forecast.assign_coords(forecast_reference_time=reference).assign_attrs(issue_date=issue_date)
    files = write_area_files(forecast, folder)
    for lead in range(3):
        Image.new("RGB", (60, 40), MAP_RGB).save(folder / f"map_d{lead}.png")
        files.append(folder / f"map_d{lead}.png")
    (folder / "index.html").write_text("<!doctype html><title>day</title>")
    write_item(forecast_item(forecast, folder, [*files, folder / "index.html"]), folder)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A store of DATES and a bundle whose one flood report, on 25 Dec, lies at the hotspot (in site-hot
    and the city); its observations run to 26 Dec."""
    root = tmp_path_factory.mktemp("archive")
    city_store = root / "store" / "test-city"
    for date in DATES:
        _publish(city_store, date)
    write_catalog(city_store, "test-city", "Test City")
    lon, lat = Transformer.from_crs(small_forecast().rio.crs, "EPSG:4326", always_xy=True).transform(
        *cell_centre(*HOTSPOT))
    obs = root / "bundle" / "obs"
    obs.mkdir(parents=True)
    pd.DataFrame({"date": ["2024-12-25"], "lon": [lon], "lat": [lat], "source": ["test"]}).to_csv(
        obs / "flood_events.csv", index=False)
    pd.DataFrame({"station_id": ["S1"], "lon": [lon], "lat": [lat], "date": ["2024-12-26"], "tasmax": [33.0]}).to_csv(
        obs / "temperature.csv", index=False)
    return write_archive(city_store, "Test City", root / "bundle")


def _row(page: str, name: str, window: int) -> list[str]:
    """The cells of area `name`'s row in the table of the last `window` days."""
    table = page.split(f"<h2>Last {window} days</h2>", 1)[1].split("</table>", 1)[0]
    row = table.split(f'<td class="name">{name}</td>', 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def test_archive_lists_every_issue_date_newest_first_with_its_maps_by_relative_links(archive):
    index, _ = archive
    page = index.read_text()
    assert re.findall(r"<h3>(.*?)</h3>", page) == list(reversed(DATES))
    assert re.findall(r'<h2 id="m([\d-]+)">', page) == ["2024-12"]
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 9 and all(src.startswith("../forecasts/") for src in sources)
    links = re.findall(r'href="([^"]+)"', page)
    assert all(not link.startswith(("/", "file:", "http")) for link in links)
    assert all((index.parent / link).resolve().is_file() for link in sources + links if "latest" not in link)
    assert "<script" not in page


def test_verification_counts_hits_misses_and_false_alarms_per_area_against_the_reports(archive):
    _, verification = archive
    page = verification.read_text()
    # days, hits, misses, false alarms, correct negatives, POD, FAR
    assert _row(page, "around Hotspot Clan House", 30)[1:8] == ["3", "1", "0", "2", "0", "1.00&dagger;", "0.67"]
    assert _row(page, "Test City", 365)[1:8] == ["3", "1", "0", "2", "0", "1.00&dagger;", "0.67"]
    assert _row(page, "around West Temple", 30)[1:8] == ["3", "0", "0", "0", "3", "–", "–"]
    assert "Verified:\n2024-12-24 to 2024-12-26" in page
    calendar = page.split('<table class="calendar">', 1)[1].split("</table>", 1)[0]
    hot = calendar.split("around Hotspot Clan House</td>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'class="(\w+)"', hot) == ["false_alarm", "hit", "false_alarm"]


def test_days_after_the_observations_are_not_verified(tmp_path, archive):
    index, _ = archive
    bundle = index.parents[3] / "bundle"
    temperature = pd.read_csv(bundle / "obs" / "temperature.csv").assign(date="2024-12-25")
    (tmp_path / "obs").mkdir()
    temperature.to_csv(tmp_path / "obs" / "temperature.csv", index=False)
    (tmp_path / "obs" / "flood_events.csv").write_text((bundle / "obs" / "flood_events.csv").read_text())
    _, verification = write_archive(index.parents[1], "Test City", tmp_path)
    assert _row(verification.read_text(), "around Hotspot Clan House", 30)[1:5] == ["2", "1", "0", "1"]


def test_a_city_without_any_flood_report_verifies_its_warnings_as_false_alarms(tmp_path, archive):
    index, _ = archive
    bundle = index.parents[3] / "bundle"
    (tmp_path / "obs").mkdir()
    (tmp_path / "obs" / "flood_events.csv").write_text("date,lon,lat,source\n")
    (tmp_path / "obs" / "temperature.csv").write_text((bundle / "obs" / "temperature.csv").read_text())
    _, verification = write_archive(index.parents[1], "Test City", tmp_path)
    assert _row(verification.read_text(), "around Hotspot Clan House", 30)[1:8] == ["3", "0", "0", "3", "0", "–", "1.00"]


@needs_chromium
def test_archive_and_verification_render_from_a_file_with_their_maps(archive, tmp_path):
    index, verification = archive
    for page in archive:
        _, console = chromium(["--dump-dom"], tmp_path, page.as_uri())
        assert csp_violations(console) == [], page.name
    shot = tmp_path / "shot.png"
    chromium([f"--screenshot={shot}"], tmp_path, index.as_uri())
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == MAP_RGB).all(axis=1).sum() > 2 * 60 * 40  # the maps loaded from ../forecasts/
    chromium([f"--screenshot={shot}", "--window-size=1280,1600"], tmp_path, verification.as_uri())
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == (26, 152, 80)).all(axis=1).sum() > 20  # a hit (#1a9850) in the day-by-day table


def test_the_daily_forecast_rewrites_the_archive_of_its_store(run):
    index, verification = run["written"]["archive"]
    assert (index, verification) == (run["store"] / "archive" / "index.html", run["store"] / "archive" / "verification.html")
    dates = {p.name for p in (run["store"] / "forecasts").iterdir() if p.name[:2] == "20"}
    assert set(re.findall(r"<h3>(.*?)</h3>", index.read_text())) == dates
    assert "<h1>How past flood warnings fared: Port Test</h1>" in verification.read_text()
