"""A city's local days in UTC: the bundle's times are naive UTC, its issue dates local days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import pandas as pd


def local_midnights_utc(days: Iterable[dt.date], timezone: str) -> pd.DatetimeIndex:
    """Local midnight starting each of `days` in the IANA `timezone`, as naive UTC times."""
    local = pd.DatetimeIndex(pd.to_datetime(list(days))).tz_localize(timezone)
    return local.tz_convert("UTC").tz_localize(None)


def local_midnight_utc(day: dt.date, timezone: str) -> pd.Timestamp:
    """Local midnight starting `day`, as a naive UTC time stamp: a forecast's reference time."""
    return local_midnights_utc([day], timezone)[0]


def local_today(timezone: str) -> dt.date:
    """Today's date in the IANA `timezone` (the city's local day)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()
