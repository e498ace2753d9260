"""The words of an alert in each language: headline, description with the why, dates, levels.

Plain functions over one asset's rows of the levels table; no I/O.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from models.assets import rank_flood_drivers, rank_heat_drivers

_WEEKDAYS = {
    "en-GB": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ms-MY": ("Isnin", "Selasa", "Rabu", "Khamis", "Jumaat", "Sabtu", "Ahad"),
    "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}
_MONTHS = {
    "en-GB": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "ms-MY": ("Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ogo", "Sep", "Okt", "Nov", "Dis"),
}
_LEAD_WORDS = {  # lead 0, lead 1, lead n
    "en-GB": ("today", "tomorrow", "in {n} days"),
    "ms-MY": ("hari ini", "esok", "dalam {n} hari"),
    "zh-CN": ("今天", "明天", "{n}天后"),
}
_NEAREST_LAND_NOTE = {  # for a site over water (a jetty) or beside the land grid
    "en-GB": " The site stands over water or at the edge of the land; these figures are for the nearest land.",
    "ms-MY": " Tapak ini terletak di atas air atau di pinggir daratan; angka ini bagi daratan terdekat.",
    "zh-CN": "该遗产地位于水上或陆地边缘，以上数值取自最近的陆地。",
}
_TEXT = {  # Alert and Update
    ("en-GB", "flood"): {
        "event": "Flood risk at a heritage site",
        "headline": "Flood risk level {level} of 3 at {name} from {onset_day}",
        "description": (
            "The chance of flooding at {name} reaches {peak} on {peak_day}, at or above this site's alert "
            "level of {threshold}. First day at or above it: {onset_day} ({onset_lead}). Chance of "
            "flooding by day: {by_day}."),
    },
    ("en-GB", "heat"): {
        "event": "Heat at a heritage site",
        "headline": "{event} ({rule_short}) at {name} from {onset_day}",
        "description": (
            "{rule} The expected maximum temperature at {name} reaches {peak} on {peak_day} (1 in 10 chance "
            "of above {peak_q90}). First day: {onset_day} ({onset_lead}). Expected maximum by day: "
            "{by_day}."),
    },
    ("ms-MY", "flood"): {
        "event": "Risiko banjir di tapak warisan",
        "headline": "Risiko banjir tahap {level} daripada 3 di {name} mulai {onset_day}",
        "description": (
            "Peluang banjir di {name} mencecah {peak} pada {peak_day}, menyamai atau melebihi paras "
            "amaran tapak ini iaitu {threshold}. Hari pertama pada paras itu: {onset_day} "
            "({onset_lead}). Peluang banjir mengikut hari: {by_day}."),
    },
    ("ms-MY", "heat"): {
        "event": "Haba di tapak warisan",
        "headline": "{event} ({rule_short}) di {name} mulai {onset_day}",
        "description": (
            "{rule} Suhu maksimum dijangka di {name} mencecah {peak} pada {peak_day} (peluang 1 dalam 10 "
            "melebihi {peak_q90}). Hari pertama: {onset_day} ({onset_lead}). Suhu maksimum dijangka "
            "mengikut hari: {by_day}."),
    },
    ("zh-CN", "flood"): {
        "event": "文化遗产地洪水风险",
        "headline": "{name}：{onset_day}起有{level}级洪水风险（共3级）",
        "description": (
            "{name}的洪水概率在{peak_day}达到{peak}，达到或超过该遗产地的警报阈值{threshold}。"
            "首次达到阈值：{onset_day}（{onset_lead}）。每日洪水概率：{by_day}。"),
    },
    ("zh-CN", "heat"): {
        "event": "文化遗产地高温",
        "headline": "{name}：{onset_day}起{event}（{rule_short}）",
        "description": (
            "{rule}{name}的预计最高气温在{peak_day}达到{peak}（有十分之一的可能超过{peak_q90}）。"
            "首日：{onset_day}（{onset_lead}）。每日预计最高气温：{by_day}。"),
    },
}


# Flood by warning area (a site's neighbourhood or a city, zone or district; levels 1-4): the event
# follows the level (1 watch the forecast, 2 prepare, 3 move collections off the floor, 4 close).
_AREA_FLOOD_EVENTS = {
    "en-GB": ("Flood watch", "Flood warning", "Severe flood warning", "Extreme flood warning"),
    "ms-MY": ("Pantauan banjir", "Amaran banjir", "Amaran banjir teruk", "Amaran banjir melampau"),
    "zh-CN": ("洪水关注", "洪水警告", "严重洪水警告", "极端洪水警告"),
}
_NEIGHBOURHOOD = {"en-GB": "the neighbourhood of {name}", "ms-MY": "kawasan sekitar {name}", "zh-CN": "{name}周边"}
_AREA_FLOOD_TEXT = {
    "en-GB": {
        "headline": "{event} (level {level} of 4) for {where} from {onset_day}",
        "description": (
            "The chance of a flood somewhere in {where} reaches {peak} on {peak_day}; level 1 starts at "
            "{threshold} here. First day at level 1 or above: {onset_day} ({onset_lead}). Chance of a flood "
            "by day: {by_day}."),
    },
    "ms-MY": {
        "headline": "{event} (tahap {level} daripada 4) bagi {where} mulai {onset_day}",
        "description": (
            "Peluang banjir di mana-mana dalam {where} mencecah {peak} pada {peak_day}; tahap 1 bermula pada "
            "{threshold} di sini. Hari pertama pada tahap 1 atau lebih: {onset_day} ({onset_lead}). Peluang "
            "banjir mengikut hari: {by_day}."),
    },
    "zh-CN": {
        "headline": "{where}：{onset_day}起{event}（{level}级，共4级）",
        "description": (
            "{where}范围内发生洪水的概率在{peak_day}达到{peak}；此处1级从{threshold}开始。"
            "首次达到1级或以上：{onset_day}（{onset_lead}）。每日洪水概率：{by_day}。"),
    },
}
_AREA_FLOOD_CANCEL = {
    "en-GB": {"headline": "Flood warning ended for {where}",
              "description": ("The chance of a flood somewhere in {where} is below the warning levels on every "
                              "forecast day (highest now {peak}).")},
    "ms-MY": {"headline": "Amaran banjir bagi {where} tamat",
              "description": ("Peluang banjir di mana-mana dalam {where} di bawah paras amaran pada setiap hari "
                              "ramalan (tertinggi kini {peak}).")},
    "zh-CN": {"headline": "{where}洪水警告解除",
              "description": "{where}范围内的洪水概率在所有预报日均低于警告等级（目前最高{peak}）。"},
}

_CANCEL = {
    ("en-GB", "flood"): {
        "headline": "Flood alert ended at {name}",
        "description": ("The chance of flooding at {name} is below this site's alert level of {threshold} on "
                        "every forecast day (highest now {peak})."),
    },
    ("en-GB", "heat"): {
        "headline": "Heat alert ended at {name}",
        "description": ("No MET Malaysia heat level and no WBGT heat-stress band is forecast at {name} on any "
                        "forecast day (highest expected maximum now {peak})."),
    },
    ("ms-MY", "flood"): {
        "headline": "Amaran banjir di {name} tamat",
        "description": ("Peluang banjir di {name} di bawah paras amaran tapak ini iaitu {threshold} pada "
                        "setiap hari ramalan (tertinggi kini {peak})."),
    },
    ("ms-MY", "heat"): {
        "headline": "Amaran haba di {name} tamat",
        "description": ("Tiada tahap haba MET Malaysia dan tiada jalur tekanan haba WBGT diramal di {name} pada "
                        "mana-mana hari ramalan (suhu maksimum dijangka tertinggi kini {peak})."),
    },
    ("zh-CN", "flood"): {
        "headline": "{name}洪水警报解除",
        "description": "{name}的洪水概率在所有预报日均低于该遗产地的警报阈值{threshold}（目前最高{peak}）。",
    },
    ("zh-CN", "heat"): {
        "headline": "{name}高温警报解除",
        "description": "所有预报日{name}均未达到马来西亚气象局高温等级或WBGT热应激等级（目前预计最高气温{peak}）。",
    },
}
# Heat events by the rule that set the alert (models.assets.HEAT_RULES): MET Malaysia's levels 1, 2, 3
# and NEA's WBGT bands 1, 2; per language the event, the rule in short, and the rule with its value.
_HEAT_EVENTS = {
    "en-GB": {"met_level": ("Heat alert", "Heatwave", "Extreme heatwave"), "wbgt_band": ("WBGT heat-stress advisory",)},
    "ms-MY": {"met_level": ("Amaran haba Waspada", "Gelombang haba", "Gelombang haba melampau"),
              "wbgt_band": ("Nasihat tekanan haba WBGT",)},
    "zh-CN": {"met_level": ("高温警示", "热浪", "极端热浪"), "wbgt_band": ("WBGT热应激提示",)},
}
_WBGT_BANDS = {"en-GB": ("low", "moderate", "high"), "ms-MY": ("rendah", "sederhana", "tinggi"),
               "zh-CN": ("低", "中", "高")}
_HEAT_RULE_WORDS = {  # (short, sentence) per rule
    "en-GB": {
        "met_level": ("MET Malaysia level {level} of 3",
                      "Set by MET Malaysia's heat level {level} of 3 ({event}): expected maximum {value}."),
        "wbgt_band": ("{band} heat stress",
                      ("Set by Singapore NEA's WBGT band '{band}' (no MET Malaysia heat level is reached): "
                       "WBGT {value} in the midday sun.")),
    },
    "ms-MY": {
        "met_level": ("tahap MET Malaysia {level} daripada 3",
                      ("Dicetuskan oleh tahap haba MET Malaysia {level} daripada 3 ({event}): suhu maksimum "
                       "dijangka {value}.")),
        "wbgt_band": ("tekanan haba {band}",
                      ("Dicetuskan oleh jalur WBGT NEA Singapura '{band}' (tiada tahap haba MET Malaysia): "
                       "WBGT {value} di bawah matahari tengah hari.")),
    },
    "zh-CN": {
        "met_level": ("马来西亚气象局{level}级，共3级",
                      "触发规则：马来西亚气象局高温等级{level}级（共3级，{event}），预计最高气温{value}。"),
        "wbgt_band": ("{band}热应激",
                      "触发规则：新加坡环境局WBGT“{band}”等级（未达马来西亚气象局高温等级），正午阳光下WBGT为{value}。"),
    },
}
_UPDATED = {"en-GB": "Updated: ", "ms-MY": "Dikemas kini: ", "zh-CN": "更新："}
_WHY = {"en-GB": " Why: {drivers}.", "ms-MY": " Sebab: {drivers}.", "zh-CN": "原因：{drivers}。"}
_DRIVER_WORDS = {  # driver: en-GB, ms-MY, zh-CN, each formatted with {v}
    "rain_24h_mm": ("{v:.0f} mm of rain expected in 24 h", "{v:.0f} mm hujan dijangka dalam 24 jam",
                    "预计24小时降雨{v:.0f}毫米"),
    "rain_max_3h_mm": ("{v:.0f} mm of rain in 3 h at the heaviest", "{v:.0f} mm hujan dalam 3 jam paling lebat",
                       "最强3小时降雨{v:.0f}毫米"),
    "rain_max_1h_mm": ("downpours of up to {v:.0f} mm in an hour", "hujan lebat sehingga {v:.0f} mm sejam",
                       "每小时降雨最高{v:.0f}毫米"),
    "rain_antecedent_72h_mm": ("ground already wet after {v:.0f} mm in the 3 days before",
                               "tanah sudah basah selepas {v:.0f} mm dalam 3 hari sebelumnya",
                               "前3天已降雨{v:.0f}毫米，地面已湿"),
    "sea_level_max_m": ("high tide {v:.1f} m above mean sea level", "air pasang tinggi {v:.1f} m di atas aras laut min",
                        "高潮位高出平均海平面{v:.1f}米"),
    "hand_m": ("low-lying cell {v:.1f} m above the nearest drain", "kawasan rendah {v:.1f} m di atas longkang terdekat",
               "地势低洼，仅高出最近排水渠{v:.1f}米"),
    "heat_index_max": ("feels like {v:.0f} °C (heat index)", "terasa seperti {v:.0f} °C (indeks haba)",
                       "体感温度{v:.0f}°C（酷热指数）"),
    "tasmax_q50_max": ("forecast maximum {v:.1f} °C", "suhu maksimum ramalan {v:.1f} °C", "预计最高气温{v:.1f}°C"),
    "wbgt_max": ("WBGT {v:.1f} °C in the midday sun", "WBGT {v:.1f} °C di bawah matahari tengah hari",
                 "正午阳光下WBGT {v:.1f}°C"),
    "hurs_mean_pct": ("humid air at {v:.0f}% relative humidity", "udara lembap, kelembapan relatif {v:.0f}%",
                      "空气潮湿，相对湿度{v:.0f}%"),
    "built_up_frac": ("dense built-up block ({v:.0%} sealed ground)", "blok bangunan padat ({v:.0%} permukaan berturap)",
                      "建筑密集街区（{v:.0%}为硬化地面）"),
}
_MODEL_FEATURE_WORDS = {  # a flood model driver without a value: its feature name in words
    "en-GB": "the model also weighs {name}", "ms-MY": "model juga mengambil kira {name}", "zh-CN": "模型也考虑了{name}",
}
_LANGUAGE_INDEX = {"en-GB": 0, "ms-MY": 1, "zh-CN": 2}
# Hourly heat (models.heat.hours): a day's windows of WBGT at or above a band, and who the advice is for.
_WINDOW_WORDS = {  # (a band's threshold, a run of hours, one hour, joiner of runs)
    "en-GB": ("WBGT at or above {t:g} °C {runs}", "from {start} to {end}", "at {start}", " and "),
    "ms-MY": ("WBGT pada atau melebihi {t:g} °C {runs}", "dari {start} hingga {end}", "pada {start}", " dan "),
    "zh-CN": ("WBGT达到或超过{t:g}°C：{runs}", "{start}至{end}", "{start}", "、"),
}
_HEAT_HOURS = {"en-GB": " Hours of heat stress: {days}.", "ms-MY": " Waktu tekanan haba: {days}.",
               "zh-CN": "热应激时段：{days}。"}
_AUDIENCE_WORDS = {
    "en-GB": {"visitors": "Visitors", "outdoor_staff": "Staff working outdoors", "conservation": "Conservation workers"},
    "ms-MY": {"visitors": "Pengunjung", "outdoor_staff": "Kakitangan yang bekerja di luar",
              "conservation": "Pekerja pemuliharaan"},
    "zh-CN": {"visitors": "游客", "outdoor_staff": "户外工作人员", "conservation": "文物保护工作人员"},
}


def drivers(hazard: str, row: pd.Series) -> list[tuple[str, float]]:
    """The ranked (driver, value) pairs of one asset-lead row (models.assets' ranking rules)."""
    return rank_flood_drivers(row) if hazard == "flood" else rank_heat_drivers(row)


def driver_words(ranked: list[tuple[str, float]], language: str) -> str:
    """'86 mm of rain expected in 24 h, high tide 1.3 m ...' in `language`."""
    separator = "、" if language == "zh-CN" else ", "
    words = []
    for name, value in ranked:
        if name in _DRIVER_WORDS and math.isfinite(value):
            words.append(_DRIVER_WORDS[name][_LANGUAGE_INDEX[language]].format(v=value))
        else:
            words.append(_MODEL_FEATURE_WORDS[language].format(name=name.replace("_", " ")))
    return separator.join(words)


def flood_basis(rows: pd.DataFrame) -> str:
    """'area' where one asset's (or area's) flood level is a warning area's (models.assets), else 'cells'."""
    return str(rows["flood_basis"].iloc[0]) if "flood_basis" in rows and len(rows) else "cells"


def texts(language: str, hazard: str, msg_type: str, rows: pd.DataFrame, *, name: str, issue_day: dt.date,
          level: int, onset_lead: int | None, why: list[tuple[str, float]], is_area: bool = False) -> dict[str, str]:
    """headline and description of one <info>, in `language`; `rows` are one asset's (or warning
    area's, `is_area`) leads, sorted. A flood by area speaks of the chance somewhere in the area
    (a site's: its neighbourhood) and of levels 1-4."""
    def day(lead: int, year: bool = True) -> str:
        return day_label(issue_day + dt.timedelta(days=int(lead)), language, year=year)

    column = "flood_chance" if hazard == "flood" else "tasmax_q50_max"
    by_area = hazard == "flood" and flood_basis(rows) == "area"

    def show(value: float) -> str:
        return f"{value:.0%}" if hazard == "flood" else f"{value:.1f} °C"

    peak_row = rows.loc[rows[column].idxmax()] if rows[column].notna().any() else rows.iloc[0]
    threshold = rows[f"{hazard}_threshold"].iloc[0]
    fields = {"name": name, "peak": show(peak_row[column]), "threshold": show(threshold) if pd.notna(threshold) else "-",
              "where": name if is_area else _NEIGHBOURHOOD[language].format(name=name)}
    if msg_type == "Cancel":
        table = _AREA_FLOOD_CANCEL[language] if by_area else _CANCEL[language, hazard]
        return {tag: table[tag].format(**fields) for tag in ("headline", "description")}
    words = _LEAD_WORDS[language]
    separator = "、" if language == "zh-CN" else ", "
    fields |= {
        "level": level, "peak_day": day(peak_row["lead"]), "peak_q90": show(peak_row["tasmax_q90_max"]),
        "onset_day": day(onset_lead),
        "onset_lead": words[onset_lead] if onset_lead < 2 else words[2].format(n=onset_lead),
        "by_day": separator.join(
            f"{day(lead, year=False)} {show(value)}" for lead, value in zip(rows["lead"], rows[column], strict=True)
        ),
    }
    if hazard == "heat":
        fields |= _heat_rule_fields(language, rows, level)
    if by_area:
        fields["event"] = event_name(language, hazard, level=level, by_area=True)
    text = _AREA_FLOOD_TEXT[language] if by_area else _TEXT[language, hazard]
    out = {tag: text[tag].format(**fields) for tag in ("headline", "description")}
    if msg_type == "Update":
        out["headline"] = _UPDATED[language] + out["headline"]
    if why:
        out["description"] += _WHY[language].format(drivers=driver_words(why, language))
    if hazard == "heat" and "wbgt_windows" in rows:
        days = [f"{day(lead, year=False)}: {window_words(windows, language)}"
                for lead, windows in zip(rows["lead"], rows["wbgt_windows"], strict=True) if windows]
        if days:
            out["description"] += _HEAT_HOURS[language].format(days=("；" if language == "zh-CN" else "; ").join(days))
    if not is_area and (rows["cells_from"].iloc[0] == "nearest_land" or rows["on_water"].iloc[0]):
        out["description"] += _NEAREST_LAND_NOTE[language]
    return out


def window_words(windows: tuple, language: str) -> str:
    """'WBGT at or above 31 °C from 11:00 to 16:00 and at 17:00, WBGT at or above 33 °C ...' in `language`,
    from one day's (band, threshold_degC, start, end) windows (models.heat.hours.with_heat_windows)."""
    band_words, run, hour, joiner = _WINDOW_WORDS[language]
    by_threshold: dict[float, list[str]] = {}
    for _, threshold, start, end in windows:
        by_threshold.setdefault(threshold, []).append(
            (hour if start == end else run).format(start=start, end=end))
    separator = "；" if language == "zh-CN" else ", "
    return separator.join(band_words.format(t=t, runs=joiner.join(runs)) for t, runs in by_threshold.items())


def audience_words(advice: list[tuple[str, str]], language: str) -> list[tuple[str, str]]:
    """(audience in `language`, advice) pairs of Advisories.audience_advice."""
    return [(_AUDIENCE_WORDS[language][audience], text) for audience, text in advice]


def audience_sentences(advice: list[tuple[str, str]], language: str) -> str:
    """'Visitors: ... Staff working outdoors: ...' (zh-CN '游客：...户外工作人员：...'), '' without advice."""
    if language == "zh-CN":
        return "".join(f"{who}：{text}" for who, text in audience_words(advice, language))
    return " ".join(f"{who}: {text}" for who, text in audience_words(advice, language))


def heat_rule(rows: pd.DataFrame) -> str:
    """The rule that set one asset's heat alert: 'met_level', 'wbgt_band' or '' (models.assets.HEAT_RULES)."""
    return str(rows["heat_rule"].iloc[0]) if "heat_rule" in rows and len(rows) else ""


def event_name(language: str, hazard: str, rule: str = "", level: int = 0, *, by_area: bool = False) -> str:
    """CAP <event>: a heat alert's follows its rule and level ('Heatwave', 'WBGT heat-stress advisory'),
    a flood by warning area (`by_area`) its level 1-4 ('Flood watch' .. 'Extreme flood warning');
    otherwise (a flood by cells, a Cancel) the hazard's general event."""
    if hazard == "flood" and by_area:
        events = _AREA_FLOOD_EVENTS[language]
        return events[min(level, 4) - 1] if level >= 1 else events[1]  # a Cancel ends a flood warning
    if hazard == "heat" and rule and level >= 1:
        events = _HEAT_EVENTS[language][rule]
        return events[min(level, len(events)) - 1]
    return _TEXT[language, hazard]["event"]


def _heat_rule_fields(language: str, rows: pd.DataFrame, level: int) -> dict[str, str]:
    """event, rule_short and rule (with the rule's value) of one asset's heat alert."""
    rule = heat_rule(rows)
    event = event_name(language, "heat", rule, level)
    if rule == "wbgt_band":
        value = rows["wbgt_max"].max() if "wbgt_max" in rows else float("nan")
        band = _WBGT_BANDS[language][min(level, 2)]
    else:
        value, band = rows.loc[rows["heat_level"] >= 1, "tasmax_q50_max"].max(), ""
    short, sentence = _HEAT_RULE_WORDS[language][rule or "met_level"]
    words = {"level": level, "event": event, "band": band,
             "value": f"{value:.1f} °C" if math.isfinite(value) else "-"}
    return {"event": event, "rule_short": short.format(**words), "rule": sentence.format(**words)}


def day_label(day: dt.date, language: str, *, year: bool = True) -> str:
    """'Fri 27 Dec 2024', 'Jumaat 27 Dis 2024' or '2024年12月27日（周五）'; `year=False` drops the year."""
    weekday = _WEEKDAYS[language][day.weekday()]
    if language == "zh-CN":
        return f"{f'{day.year}年' if year else ''}{day.month}月{day.day}日（{weekday}）"
    return f"{weekday} {day.day} {_MONTHS[language][day.month - 1]}{f' {day.year}' if year else ''}"


# Conservation climate (models.conservation): one line per site and language, the method named.
_CONSERVATION_LINE = {
    "en-GB": ("Mould risk for timber and paper: {risk} (VTT model; relative humidity at or above {rh_crit:.0f} % for "
              "{hours} of the next {forecast_hours} h; mould index {index:.1f} by {day}, on a surface clean "
              "{spin_up_days} days before). After a flood, drying is {drying} (mean vapour pressure deficit "
              "{vpd:.1f} hPa). Indoor air taken as outdoor: open, naturally ventilated buildings."),
    "ms-MY": ("Risiko kulat bagi kayu dan kertas: {risk} (model VTT; kelembapan relatif pada atau melebihi "
              "{rh_crit:.0f} % selama {hours} daripada {forecast_hours} jam akan datang; indeks kulat {index:.1f} "
              "menjelang {day}, pada permukaan yang bersih {spin_up_days} hari sebelumnya). Selepas banjir, "
              "pengeringan {drying} (purata defisit tekanan wap {vpd:.1f} hPa). Udara dalam bangunan dianggap sama "
              "dengan udara luar: bangunan terbuka dengan pengudaraan semula jadi."),
    "zh-CN": ("木材和纸张霉变风险：{risk}（VTT霉菌生长模型；未来{forecast_hours}小时中有{hours}小时相对湿度达到或超过"
              "{rh_crit:.0f}%；至{day}霉变指数为{index:.1f}，以{spin_up_days}天前清洁的表面计）。洪水过后干燥{drying}"
              "（平均水汽压差{vpd:.1f}百帕）。室内空气按室外计：建筑开敞、自然通风。"),
}
_MOULD_RISK_WORDS = {"en-GB": ("low", "moderate", "high"), "ms-MY": ("rendah", "sederhana", "tinggi"),
                     "zh-CN": ("低", "中", "高")}
_DRYING_WORDS = {"en-GB": ("slow", "moderate", "fast"), "ms-MY": ("perlahan", "sederhana", "cepat"),
                 "zh-CN": ("慢", "中等", "快")}


def conservation_line(rows: pd.DataFrame, language: str, *, issue_day: dt.date) -> str:
    """One site's mould risk and drying after a flood in `language`, from its rows of the levels table
    (pipelines.forecast.conservation.site_conservation's columns); '' where the site has none."""
    classes = ["mould_risk", "drying"]
    if not set(classes) <= set(rows) or rows.empty or rows[classes].iloc[0].isna().any():
        return ""
    row = rows.iloc[0]
    return _CONSERVATION_LINE[language].format(
        risk=_MOULD_RISK_WORDS[language][int(row["mould_risk"])], rh_crit=row["rh_crit_pct"],
        hours=int(row["hours_above_rh_crit"]), forecast_hours=int(row["forecast_hours"]),
        index=row["mould_index_max"], spin_up_days=int(row["spin_up_days"]),
        day=day_label(issue_day + dt.timedelta(days=int(row["mould_index_max_lead"])), language, year=False),
        drying=_DRYING_WORDS[language][int(row["drying"])], vpd=row["vpd_mean_hpa"])
