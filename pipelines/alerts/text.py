"""The words of an alert in each language: headline, description with the why, dates, levels.

The words themselves are data a translator edits, one file per language in
pipelines/alerts/words/ (read once); the rest are plain functions over one asset's rows of the
levels table.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from models.assets import rank_flood_drivers, rank_heat_drivers
from pipelines.config import ConfigError

WORDS_DIR = Path(__file__).with_name("words")  # one YAML per language: <language>.yaml


@functools.cache
def words(language: str) -> dict:
    """The words of `language`, read once from pipelines/alerts/words/<language>.yaml."""
    path = WORDS_DIR / f"{language}.yaml"
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the words of {language}: {err}") from err


def kind_words(kind: str | None, language: str) -> str:
    """An asset kind in `language` ('clan_house' -> 'clan house'); an unknown kind with '_' as spaces."""
    return words(language)["kinds"].get(str(kind), str(kind).replace("_", " ")) if kind else ""


def drivers(hazard: str, row: pd.Series) -> list[tuple[str, float]]:
    """The ranked (driver, value) pairs of one asset-lead row (models.assets' ranking rules)."""
    return rank_flood_drivers(row) if hazard == "flood" else rank_heat_drivers(row)


def driver_words(ranked: list[tuple[str, float]], language: str) -> str:
    """'86 mm of rain expected in 24 h, high tide 1.3 m ...' in `language`."""
    table = words(language)["drivers"]
    return words(language)["list_separator"].join(
        table[name].format(v=value) if name in table and name != "model_feature" and math.isfinite(value)
        else table["model_feature"].format(name=name.replace("_", " ")) for name, value in ranked)


def flood_basis(rows: pd.DataFrame) -> str:
    """'area' where one asset's (or area's) flood level is a warning area's (models.assets), else 'cells'."""
    return str(rows["flood_basis"].iloc[0]) if "flood_basis" in rows and len(rows) else "cells"


def peak_row(rows: pd.DataFrame, hazard: str) -> pd.Series:
    """The lead row of one asset with the highest flood chance (or tasmax q50); the first if all are NaN."""
    column = "flood_chance" if hazard == "flood" else "tasmax_q50_max"
    return rows.loc[rows[column].idxmax()] if rows[column].notna().any() else rows.iloc[0]


def lead_words(lead: int, language: str) -> str:
    """'today', 'tomorrow' or 'in 3 days' in `language`."""
    dates = words(language)["dates"]
    return (dates["today"], dates["tomorrow"])[lead] if lead < 2 else dates["in_days"].format(n=lead)


def value_words(value: float, hazard: str) -> str:
    """A flood chance as '35%', a temperature as '36.2 °C'."""
    return f"{value:.0%}" if hazard == "flood" else f"{value:.1f} °C"


def site_alert_lines(language: str, rows: pd.DataFrame, *, issue_day: dt.date,
                     advice: Callable[[str, int], str]) -> list[tuple[str, str, str]]:
    """Per hazard that reaches level 1 on a lead of one site's `rows` (its leads, sorted): its level and
    when ('Flood warning: level 2 of 4 from Fri 27 Dec 2024 (tomorrow), highest 45% on ...'; a heat alert
    set by a WBGT band peaks in WBGT), why (the drivers at the peak) and what to do (`advice(hazard, level)`
    at the highest level), in `language`."""
    said = words(language)
    lines = []
    for hazard in ("flood", "heat"):
        level = int(rows[f"{hazard}_level"].max()) if len(rows) else 0
        if level < 1:
            continue
        by_area = hazard == "flood" and flood_basis(rows) == "area"
        rule = heat_rule(rows) if hazard == "heat" else ""
        event = (event_name(language, hazard, rule, level, by_area=by_area) if by_area or rule
                 else said["hazards"][hazard])
        top = 4 if by_area else 2 if rule == "wbgt_band" else 3
        onset_lead = int(rows.loc[rows[f"{hazard}_level"] >= 1, "lead"].min())
        by_wbgt = rule == "wbgt_band" and "wbgt_max" in rows and rows["wbgt_max"].notna().any()
        peak = rows.loc[rows["wbgt_max"].idxmax()] if by_wbgt else peak_row(rows, hazard)
        when = said["digest"]["site_alert"].format(
            event=event, level=level, top=top, onset_lead=lead_words(onset_lead, language),
            onset_day=day_label(issue_day + dt.timedelta(days=onset_lead), language),
            peak=f"WBGT {peak['wbgt_max']:.1f} °C" if by_wbgt else value_words(
                peak["flood_chance" if hazard == "flood" else "tasmax_q50_max"], hazard),
            peak_day=day_label(issue_day + dt.timedelta(days=int(peak["lead"])), language))
        why = said["digest"]["why"].format(drivers=driver_words(drivers(hazard, peak), language))
        lines.append((when, why, said["digest"]["what_to_do"].format(advice=advice(hazard, level))))
    return lines


def texts(language: str, hazard: str, msg_type: str, rows: pd.DataFrame, *, name: str, issue_day: dt.date,
          level: int, onset_lead: int | None, why: list[tuple[str, float]], is_area: bool = False) -> dict[str, str]:
    """headline and description of one <info>, in `language`; `rows` are one asset's (or warning
    area's, `is_area`) leads, sorted. A flood by area speaks of the chance somewhere in the area
    (a site's: its neighbourhood) and of levels 1-4."""
    def day(lead: int, year: bool = True) -> str:
        return day_label(issue_day + dt.timedelta(days=int(lead)), language, year=year)

    said = words(language)
    column = "flood_chance" if hazard == "flood" else "tasmax_q50_max"
    by_area = hazard == "flood" and flood_basis(rows) == "area"
    peak = peak_row(rows, hazard)
    threshold = rows[f"{hazard}_threshold"].iloc[0]
    fields = {"name": name, "peak": value_words(peak[column], hazard),
              "threshold": value_words(threshold, hazard) if pd.notna(threshold) else "-",
              "where": name if is_area else said["area_flood"]["neighbourhood"].format(name=name)}
    if msg_type == "Cancel":
        area = said["area_flood"]
        table = ({"headline": area["cancel_headline"], "description": area["cancel_description"]} if by_area
                 else said["cancel"][hazard])
        return {tag: table[tag].format(**fields) for tag in ("headline", "description")}
    fields |= {
        "level": level, "peak_day": day(peak["lead"]), "peak_q90": value_words(peak["tasmax_q90_max"], hazard),
        "onset_day": day(onset_lead), "onset_lead": lead_words(onset_lead, language),
        "by_day": said["list_separator"].join(
            f"{day(lead, year=False)} {value_words(value, hazard)}"
            for lead, value in zip(rows["lead"], rows[column], strict=True)),
    }
    if hazard == "heat":
        fields |= _heat_rule_fields(language, rows, level)
    if by_area:
        fields["event"] = event_name(language, hazard, level=level, by_area=True)
    text = said["area_flood"] if by_area else said["alert"][hazard]
    out = {tag: text[tag].format(**fields) for tag in ("headline", "description")}
    if msg_type == "Update":
        out["headline"] = said["alert"]["updated"] + out["headline"]
    if why:
        out["description"] += said["alert"]["why"].format(drivers=driver_words(why, language))
    if hazard == "heat" and "wbgt_windows" in rows:
        days = [f"{day(lead, year=False)}: {window_words(windows, language)}"
                for lead, windows in zip(rows["lead"], rows["wbgt_windows"], strict=True) if windows]
        if days:
            out["description"] += said["alert"]["heat_hours"].format(days=said["clause_separator"].join(days))
    if not is_area and (rows["cells_from"].iloc[0] == "nearest_land" or rows["on_water"].iloc[0]):
        out["description"] += said["alert"]["nearest_land"]
    return out


def window_words(windows: tuple, language: str) -> str:
    """'WBGT at or above 31 °C from 11:00 to 16:00 and at 17:00, WBGT at or above 33 °C ...' in `language`,
    from one day's (band, threshold_degC, start, end) windows (models.heat.hours.with_heat_windows)."""
    said = words(language)["wbgt_windows"]
    by_threshold: dict[float, list[str]] = {}
    for _, threshold, start, end in windows:
        by_threshold.setdefault(threshold, []).append(
            said["hour" if start == end else "run"].format(start=start, end=end))
    return said["separator"].join(
        said["threshold"].format(t=t, runs=said["joiner"].join(runs)) for t, runs in by_threshold.items())


def audience_words(advice: list[tuple[str, str]], language: str) -> list[tuple[str, str]]:
    """(audience in `language`, advice) pairs of Advisories.audience_advice."""
    return [(words(language)["audiences"][audience], text) for audience, text in advice]


def audience_sentences(advice: list[tuple[str, str]], language: str) -> str:
    """'Visitors: ... Staff working outdoors: ...' (zh-CN '游客：...户外工作人员：...'), '' without advice."""
    said = words(language)
    return said["sentence_space"].join(said["audiences"]["advice"].format(who=who, text=text)
                                       for who, text in audience_words(advice, language))


def heat_rule(rows: pd.DataFrame) -> str:
    """The rule that set one asset's heat alert: 'met_level', 'wbgt_band' or '' (models.assets.HEAT_RULES)."""
    return str(rows["heat_rule"].iloc[0]) if "heat_rule" in rows and len(rows) else ""


def event_name(language: str, hazard: str, rule: str = "", level: int = 0, *, by_area: bool = False) -> str:
    """CAP <event>: a heat alert's follows its rule and level ('Heatwave', 'WBGT heat-stress advisory'),
    a flood by warning area (`by_area`) its level 1-4 ('Flood watch' .. 'Extreme flood warning');
    otherwise (a flood by cells, a Cancel) the hazard's general event."""
    said = words(language)
    if hazard == "flood" and by_area:
        events = said["area_flood"]["events"]
        return events[min(level, 4) - 1] if level >= 1 else events[1]  # a Cancel ends a flood warning
    if hazard == "heat" and rule and level >= 1:
        events = said["heat_rules"][rule]["events"]
        return events[min(level, len(events)) - 1]
    return said["alert"][hazard]["event"]


def _heat_rule_fields(language: str, rows: pd.DataFrame, level: int) -> dict[str, str]:
    """event, rule_short and rule (with the rule's value) of one asset's heat alert."""
    rule = heat_rule(rows)
    event = event_name(language, "heat", rule, level)
    rules = words(language)["heat_rules"]
    if rule == "wbgt_band":
        value = rows["wbgt_max"].max() if "wbgt_max" in rows else float("nan")
        band = rules["wbgt_bands"][min(level, 2)]
    else:
        value, band = rows.loc[rows["heat_level"] >= 1, "tasmax_q50_max"].max(), ""
    said = rules[rule or "met_level"]
    fields = {"level": level, "event": event, "band": band,
              "value": f"{value:.1f} °C" if math.isfinite(value) else "-"}
    return {"event": event, "rule_short": said["short"].format(**fields), "rule": said["sentence"].format(**fields)}


def day_label(day: dt.date, language: str, *, year: bool = True) -> str:
    """'Fri 27 Dec 2024', 'Jumaat 27 Dis 2024' or '2024年12月27日（周五）'; `year=False` drops the year."""
    dates = words(language)["dates"]
    return dates["day_with_year" if year else "day"].format(
        weekday=dates["weekdays"][day.weekday()], day=day.day, month=dates["months"][day.month - 1], year=day.year)


def conservation_line(rows: pd.DataFrame, language: str, *, issue_day: dt.date) -> str:
    """One site's mould risk and drying after a flood in `language`, the method named, from its rows of the
    levels table (pipelines.forecast.conservation.site_conservation's columns); '' where the site has none."""
    classes = ["mould_risk", "drying"]
    if not set(classes) <= set(rows) or rows.empty or rows[classes].iloc[0].isna().any():
        return ""
    row, said = rows.iloc[0], words(language)["conservation"]
    return said["line"].format(
        risk=said["mould_risk"][int(row["mould_risk"])], rh_crit=row["rh_crit_pct"],
        hours=int(row["hours_above_rh_crit"]), forecast_hours=int(row["forecast_hours"]),
        index=row["mould_index_max"], spin_up_days=int(row["spin_up_days"]),
        day=day_label(issue_day + dt.timedelta(days=int(row["mould_index_max_lead"])), language, year=False),
        drying=said["drying"][int(row["drying"])], vpd=row["vpd_mean_hpa"])
