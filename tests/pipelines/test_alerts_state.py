import datetime as dt

import capvalidator
import pytest
from lxml import etree

from pipelines.alerts.run import STORE_FILE
from pipelines.alerts.state import AlertStore, open_store
from tests.pipelines.alerts_factory import CONFIG, FIRST_DAY, day_levels, folder_bytes, run_day

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
DAYS = [FIRST_DAY + dt.timedelta(days=n) for n in range(8)]
RISING = day_levels([0.1, 0.35, 0.4])  # crosses 0.3 from lead 1: level 1
HIGHER = day_levels([0.7, 0.8, 0.5])  # 0.8 is 9.3x the threshold's odds: level 3, onset lead 0
FALLING = day_levels([0.1, 0.1, 0.1])


def field(xml: bytes, path: str) -> list[str]:
    return [element.text for element in etree.fromstring(xml).findall(path, NS)]


def outbox(store):
    with open_store(store / STORE_FILE) as alerts:
        return alerts.outbox()


def test_rising_then_higher_then_falling_gives_alert_update_cancel(tmp_path):
    alert = run_day(tmp_path, DAYS[0], RISING).messages
    update = run_day(tmp_path, DAYS[1], HIGHER).messages
    cancel = run_day(tmp_path, DAYS[2], FALLING).messages
    assert [m.msg_type for m in alert + update + cancel] == ["Alert", "Update", "Cancel"]
    first, second, last = alert[0], update[0], cancel[0]
    assert first.identifier == "warisan-test@example.org.test-city.hot.flood.2024-12-26"
    assert first.sent == "2024-12-26T00:00:00+08:00" and first.level == 1 and first.onset == "2024-12-27"
    assert second.level == 3 and second.onset == "2024-12-27"
    assert field(second.xml, "cap:references") == [first.reference]
    assert field(last.xml, "cap:references") == [f"{first.reference} {second.reference}"]
    assert field(last.xml, "cap:info/cap:responseType") == ["AllClear", "AllClear"]  # en-GB, ms-MY
    for message in alert + update + cancel:
        assert capvalidator.check_schema(message.xml).passed, message.identifier


def test_thirty_reruns_of_the_last_date_add_nothing_and_rewrite_the_same_bytes(tmp_path):
    for day, levels in zip(DAYS[:3], (RISING, HIGHER, FALLING), strict=True):
        run_day(tmp_path, day, levels)
    folder = tmp_path / "forecasts" / DAYS[2].isoformat()
    once, queued = folder_bytes(folder), outbox(tmp_path)
    for _ in range(30):
        rerun = run_day(tmp_path, DAYS[2], FALLING)
        assert rerun.mode == "rerun" and [m.msg_type for m in rerun.messages] == ["Cancel"]
    assert folder_bytes(folder) == once
    assert outbox(tmp_path).equals(queued)
    with open_store(tmp_path / STORE_FILE) as alerts:
        assert [m.msg_type for m in alerts.messages()] == ["Alert", "Update", "Cancel"]


def test_rerun_with_another_forecast_keeps_the_recorded_messages(tmp_path):
    first = run_day(tmp_path, DAYS[0], RISING).messages
    again = run_day(tmp_path, DAYS[0], HIGHER).messages  # e.g. a retrained model: the published message stands
    assert again == first


def test_unchanged_level_and_onset_send_nothing_new(tmp_path):
    run_day(tmp_path, DAYS[0], RISING)  # onset 27 Dec
    assert run_day(tmp_path, DAYS[1], day_levels([0.36, 0.4, 0.2])).messages == []  # onset still 27 Dec
    moved = run_day(tmp_path, DAYS[2], day_levels([0.1, 0.1, 0.38])).messages  # onset now 30 Dec
    assert [(m.msg_type, m.onset) for m in moved] == [("Update", "2024-12-30")]


def test_an_expired_alert_is_followed_by_a_new_alert_not_an_update(tmp_path):
    run_day(tmp_path, DAYS[0], RISING)  # expires at the end of 28 Dec
    later = run_day(tmp_path, DAYS[5], RISING).messages
    assert [(m.msg_type, m.references) for m in later] == [("Alert", ())]


def test_heat_and_flood_are_separate_events(tmp_path):
    both = run_day(tmp_path, DAYS[0], day_levels([0.6, 0.1, 0.1], heat=[34.0, 37.5, 36.0])).messages
    assert [(m.hazard, m.msg_type, m.level) for m in both] == [("flood", "Alert", 2), ("heat", "Alert", 2)]
    heat_only = run_day(tmp_path, DAYS[1], day_levels([0.1, 0.1, 0.1], heat=[37.5, 36.0, 36.0])).messages
    assert [(m.hazard, m.msg_type) for m in heat_only] == [("flood", "Cancel")]


def test_a_late_backfill_is_written_but_neither_recorded_nor_queued(tmp_path):
    run_day(tmp_path, DAYS[3], RISING)
    backfill = run_day(tmp_path, DAYS[1], HIGHER)
    assert backfill.mode == "backfill" and [m.msg_type for m in backfill.messages] == ["Alert"]
    assert (tmp_path / "forecasts" / DAYS[1].isoformat() / "alerts").is_dir()
    with open_store(tmp_path / STORE_FILE) as alerts:
        assert not alerts.recorded(DAYS[1]) and len(alerts.outbox()) == 0


def test_drill_sends_status_test_and_actual_otherwise(tmp_path):
    actual = CONFIG.model_copy(update={"status": "Actual"})
    message = run_day(tmp_path / "a", DAYS[0], RISING, alert=actual).messages[0]
    drill = run_day(tmp_path / "b", DAYS[0], RISING, alert=actual.model_copy(update={"drill": True})).messages[0]
    assert field(message.xml, "cap:status") == ["Actual"] and field(drill.xml, "cap:status") == ["Test"]


def test_a_crash_inside_the_run_transaction_leaves_no_trace(tmp_path, monkeypatch):
    clean = run_day(tmp_path / "clean", DAYS[0], RISING)

    def crash(self, day, outgoing):
        raise RuntimeError("killed between the messages and the outbox")

    with monkeypatch.context() as patch:
        patch.setattr(AlertStore, "_queue", crash)
        with pytest.raises(RuntimeError, match="killed"):
            run_day(tmp_path / "store", DAYS[0], RISING)
    with open_store(tmp_path / "store" / STORE_FILE) as alerts:
        assert alerts.latest_date() is None and alerts.messages() == []
    rerun = run_day(tmp_path / "store", DAYS[0], RISING)
    assert rerun.mode == "new" and rerun.messages == clean.messages


def test_a_crash_after_the_commit_is_finished_by_the_rerun_without_repeats(tmp_path, monkeypatch):
    clean = run_day(tmp_path / "clean", DAYS[0], RISING)
    with monkeypatch.context() as patch:
        patch.setattr("pipelines.alerts.run.write_cap_messages", lambda *a: (_ for _ in ()).throw(OSError("disk")))
        with pytest.raises(OSError, match="disk"):
            run_day(tmp_path / "store", DAYS[0], RISING)
    rerun = run_day(tmp_path / "store", DAYS[0], RISING)
    assert rerun.mode == "rerun" and rerun.messages == clean.messages
    assert folder_bytes(tmp_path / "store" / "forecasts") == folder_bytes(tmp_path / "clean" / "forecasts")


def test_alert_names_its_drivers_and_advice_in_every_language(tmp_path):
    alert = CONFIG.model_copy(update={"languages": ("en-GB", "ms-MY", "zh-CN")})
    xml = run_day(tmp_path, DAYS[0], HIGHER, alert=alert).messages[0].xml
    english, malay, chinese = field(xml, "cap:info/cap:description")
    # ranked: 1 m / 0.4 m = 2.5, 86 / 60 mm = 1.43, 1.3 / 1 m = 1.3; the 1 h burst loses to the 24 h total
    assert ("Why: low-lying cell 0.4 m above the nearest drain, 86 mm of rain expected in 24 h, high tide 1.3 m"
            in english)
    assert "86 mm hujan dijangka dalam 24 jam" in malay and "预计24小时降雨86毫米" in chinese
    instructions = field(xml, "cap:info/cap:instruction")
    assert "upper floor" in instructions[0] and "tingkat atas" in instructions[1] and "楼上" in instructions[2]
    names = field(xml, "cap:info/cap:parameter/cap:valueName")
    values = dict(zip(names, field(xml, "cap:info/cap:parameter/cap:value"), strict=True))
    assert values["flood_drivers"] == "hand_m rain_24h_mm sea_level_max_m" and values["rain_24h_mm"] == "86.00"


def test_cancel_gives_the_after_event_advice(tmp_path):
    run_day(tmp_path, DAYS[0], RISING)
    cancel = run_day(tmp_path, DAYS[1], FALLING).messages[0]
    assert "lime plaster" in field(cancel.xml, "cap:info/cap:instruction")[0]
    assert "ended" in field(cancel.xml, "cap:info/cap:headline")[0]


def test_an_event_under_way_keeps_its_onset_and_is_renewed_before_it_expires(tmp_path):
    hot = day_levels([0.1, 0.1, 0.1], heat=[36.0, 36.0, 36.0])
    # the Alert of 26 Dec expires at the end of 28 Dec: 28 Dec renews it until the end of 30 Dec
    types = [[m.msg_type for m in run_day(tmp_path, day, hot).messages] for day in DAYS[:5]]
    assert types == [["Alert"], [], ["Update"], [], ["Update"]]
