"""The README's screenshots, taken by headless Chromium from what the code publishes now.

`make screenshots` republishes the demo's 2 Sep 2024 (its biggest flood day in the reports) with the
current code, then runs this script on that date. One function per shot: each takes the issue
date's folder, writes one PNG under docs/img and returns it; SHOTS lists them in order. Chromium runs with the network off (every request goes to a
closed proxy port), so a shot shows what a user sees offline. The last line gives the date for the
captions.

    python benchmarks/screenshots.py [--store store] [--city george-town-demo] [--date latest]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "img"
WINDOW_PX = (1400, 900)  # width, height of every shot


def chromium_screenshot(url: str, out: Path) -> Path:
    """Write a WINDOW_PX screenshot of `url` to `out`, with headless Chromium and no network."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no chromium on PATH: install it (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
                        "--window-size={},{}".format(*WINDOW_PX), "--virtual-time-budget=5000",
                        f"--screenshot={out}", url], check=True, capture_output=True, timeout=120)
    return out


def demo_page(day: Path) -> Path:
    """docs/img/demo-page.png: the issue date's published index.html, lead 0, its first layer."""
    return chromium_screenshot((day / "index.html").resolve().as_uri() + "#lead=0", IMAGES / "demo-page.png")


def demo_map(day: Path) -> Path:
    """docs/img/demo-map.png: the issue date's published map of lead day 0, as it is."""
    return Path(shutil.copyfile(day / "map_d0.png", IMAGES / "demo-map.png"))


SHOTS = (demo_page, demo_map)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=REPO / "store", help="the store the demo publishes to")
    parser.add_argument("--city", default="george-town-demo", help="the city's slug in the store")
    parser.add_argument("--date", default="latest", help="the issue date to shoot, YYYY-MM-DD (default: the latest)")
    args = parser.parse_args()
    day = args.store / args.city / "forecasts" / args.date
    if not (day / "index.html").is_file():
        raise SystemExit(f"{day / 'index.html'}: not published; run `make demo` (and `warisan forecast --date`) first")
    for shot in SHOTS:
        print(f"{shot.__name__}: {shot(day).relative_to(REPO)}")
    issue = day.resolve().name.split("-")[:3]
    print(f"For the captions: screenshots of {dt.date.today():%-d %b %Y}, issue date {'-'.join(issue)}")


if __name__ == "__main__":
    main()
