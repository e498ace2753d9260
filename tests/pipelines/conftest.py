"""The second synthetic city of the flow tests: its assets and config (fixtures in tests/conftest.py)."""

# A made-up port town in UTM zone 50N (Borneo), 50 m cells, five assets of its own.
ASSETS = """name,lon,lat,category
Old Customs House,117.9150,5.9790,Colonial Civic Heritage
Harbour Temple,117.9180,5.9760,Religious Heritage
Clock Tower,117.9120,5.9810,Colonial Heritage
Merchant Row,117.9140,5.9770,Urban Streetscape
Fishing Jetty,117.9230,5.9800,Maritime / Waterfront Heritage
"""

CONFIG = """
city: {{slug: port-test, name: Port Test, timezone: Asia/Kuching}}
grid: {{crs: "EPSG:32650", resolution_m: 50, bounds: [600000, 660000, 602500, 662000]}}
source:
  kind: demo
  seed: 7
  start: 2023-03-01
  end: 2023-12-31
  coastline: synthetic
  assets: {assets}
  climate: {{shift_months: 1, rain_scale: 1.5}}  # wet season Oct-Dec, so the last weeks hold floods
  regional_spacing_deg: 0.02
paths: {{bundle: port/bundle, store: store}}
flood: {{lead_days: 2, label_radius_m: 120, negatives_per_positive: 10, default_threshold: 0.05}}
heat: {{lead_days: 3, default_threshold_degC: 31.0}}
train: {{early_stopping_days: 45, num_boost_round: 60, seed: 1}}
evaluation: {{validation: [2023-08-19, 2023-11-16], test: [2023-11-17, 2023-12-31]}}
alerts: {{sender: warisan-test@example.org, sender_name: Warisan test city, status: Test}}
"""
