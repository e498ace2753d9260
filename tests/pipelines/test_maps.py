import numpy as np
import pytest
from PIL import Image

from models.assets import asset_alert_levels, asset_risk
from pipelines.maps import DPI, WIDTH_PX, render_map
from tests.pipelines.conftest_publish import small_assets, small_forecast, small_zone


def levels():
    assets = small_assets()
    risk = asset_risk(small_forecast(), assets)
    return asset_alert_levels(risk, assets, default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


@pytest.fixture(scope="module")
def map_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "map_d1.png"
    return render_map(small_forecast(), 1, zone=small_zone(), assets=small_assets(), levels=levels(), path=path)


def test_map_is_a_png_of_the_briefing_width(map_png):
    with Image.open(map_png) as image:
        assert image.format == "PNG"
        assert image.width == WIDTH_PX
        assert 0.4 * WIDTH_PX < image.height < WIDTH_PX
        assert image.info.get("dpi", (DPI, DPI))[0] == pytest.approx(DPI, abs=1)


def test_map_has_real_content(map_png):
    with Image.open(map_png) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1]))
    assert len(colours) > 50
    reds = (pixels[:, 0] > 180) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert reds.sum() > 20  # alert markers and the hottest cells


def test_map_without_levels_draws_every_site_neutral(tmp_path):
    path = render_map(small_forecast(), 0, zone=small_zone(), assets=small_assets(), levels=None,
                      path=tmp_path / "map_d0.png")
    with Image.open(path) as image:
        assert image.width == WIDTH_PX
    assert [p.name for p in tmp_path.iterdir()] == ["map_d0.png"]  # written atomically, no temp left


def test_map_rejects_a_lead_the_forecast_lacks(tmp_path):
    with pytest.raises(ValueError, match=r"`lead` 7 is not in the forecast's leads \[0, 1, 2\]"):
        render_map(small_forecast(), 7, zone=small_zone(), assets=small_assets(), levels=None,
                   path=tmp_path / "map.png")
