import pytest
from pydantic import ValidationError

from pipelines.alerts.advice import load_advisories
from pipelines.config import AlertConfig, ConfigError

ALL = ("en-GB", "ms-MY", "zh-CN")


def test_the_shipped_table_gives_kind_advice_and_falls_back_to_the_default():
    table = load_advisories(None, ALL)
    assert "five-foot way" in table.text("streetscape", "flood", 2, "en-GB")
    assert table.text("streetscape", "flood", 4, "en-GB") == table.text(None, "flood", 4, "en-GB")
    assert "lime plaster" in table.text("unknown-kind", "flood", "after", "en-GB")
    assert "kaki lima" in table.text("streetscape", "flood", 2, "ms-MY")


def test_a_missing_language_is_reported_with_the_file_and_key(tmp_path):
    path = tmp_path / "advisories.yaml"
    text = (load_advisories.__globals__["DEFAULT_ADVISORIES"]).read_text(encoding="utf-8")
    path.write_text(text.replace("        ms-MY: Tutup hujung jeti", "        xx: Tutup hujung jeti"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"advisories\.yaml: kinds\.jetty\.flood\.2\.xx\.\[key\]: Input should be .en-GB."):
        load_advisories(path, ALL)


def test_a_kind_without_chinese_is_refused_only_when_chinese_is_asked(tmp_path):
    path = tmp_path / "advisories.yaml"
    text = (load_advisories.__globals__["DEFAULT_ADVISORIES"]).read_text(encoding="utf-8")
    path.write_text("\n".join(line for line in text.splitlines() if "zh-CN: 高潮时关闭" not in line), encoding="utf-8")
    load_advisories(path, ("en-GB", "ms-MY"))
    with pytest.raises(ConfigError, match=r"kinds\.jetty\.flood\.2: no zh-CN text"):
        load_advisories(path, ALL)


def test_a_default_level_left_out_is_refused(tmp_path):
    path = tmp_path / "advisories.yaml"
    path.write_text("default: {flood: {1: {en-GB: a, ms-MY: b}}, heat: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"default\.flood\.2: missing"):
        load_advisories(path, ("en-GB",))


def test_a_password_written_into_a_channel_url_is_refused():
    with pytest.raises(ValidationError, match="holds a password"):
        AlertConfig(sender="a@b.org", sender_name="x", channels={"mail": {"url": "mailtos://me:hunter2@smtp.x.org"}})
    with pytest.raises(ValidationError, match="holds a password"):
        AlertConfig(sender="a@b.org", sender_name="x", channels={"m": {"url": "mailtos://me@x.org:${A}x@smtp.x.org"}})
    AlertConfig(sender="a@b.org", sender_name="x", channels={"mail": {"url": "mailtos://me:${SMTP_PASSWORD}@x.org"}})


def test_a_manager_naming_an_unknown_channel_is_refused():
    with pytest.raises(ValidationError, match=r"manager 'keeper' names channels not in alerts\.channels: \['sms'\]"):
        AlertConfig(sender="a@b.org", sender_name="x",
                    managers=[{"id": "keeper", "name": "K", "assets": ["a1"], "channels": ["sms"]}])


def test_drill_turns_the_status_to_test():
    assert AlertConfig(sender="a@b.org", sender_name="x", drill=True).effective_status == "Test"
    assert AlertConfig(sender="a@b.org", sender_name="x").effective_status == "Actual"


def test_the_shipped_table_advises_each_audience_in_each_wbgt_band():
    table = load_advisories(None, ALL)
    for band in (1, 2):
        assert [audience for audience, _ in table.audience_advice(band, "zh-CN")] == [
            "visitors", "outdoor_staff", "conservation"]
    assert "heavy work 15 min" in dict(table.audience_advice(2, "en-GB"))["outdoor_staff"]
    assert table.audience_advice(0, "en-GB") == []


def test_a_wbgt_audience_left_out_is_refused_with_the_file_and_key(tmp_path):
    path = tmp_path / "advisories.yaml"
    text = (load_advisories.__globals__["DEFAULT_ADVISORIES"]).read_text(encoding="utf-8")
    start = text.index("  2:\n    visitors:", text.index("wbgt_audiences:"))
    path.write_text(text[:start] + text[start:].replace("    visitors:", "    tourists:", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"advisories\.yaml: wbgt_audiences\.2\.tourists\.\[key\]: Input should be"):
        load_advisories(path, ALL)
    path.write_text(text[:start] + text[start:].replace("      ms-MY: Elakkan", "      xx-XX: Elakkan"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wbgt_audiences\.2\.visitors\.xx-XX\.\[key\]"):
        load_advisories(path, ALL)


def test_a_wbgt_band_without_an_audience_is_refused(tmp_path):
    path = tmp_path / "advisories.yaml"
    text = (load_advisories.__globals__["DEFAULT_ADVISORIES"]).read_text(encoding="utf-8")
    path.write_text(text.rsplit("    conservation:", 1)[0], encoding="utf-8")  # band 2's last audience
    with pytest.raises(ConfigError, match=r"advisories\.yaml: wbgt_audiences\.2\.conservation: missing"):
        load_advisories(path, ALL)
