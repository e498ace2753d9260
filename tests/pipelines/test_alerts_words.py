"""The words files of pipelines/alerts/words/: one per language, each with English's keys and placeholders."""

from __future__ import annotations

import string
import typing

import pytest
import yaml

from pipelines.alerts.advice import load_advisories
from pipelines.alerts.text import WORDS_DIR, kind_words, words
from pipelines.config import ConfigError, Language

LANGUAGES = typing.get_args(Language)


def _leaves(tree, path: str = "") -> dict[str, str]:
    """Every text of a words tree by its dotted path; list items by index."""
    if isinstance(tree, dict):
        return {key: text for name, sub in tree.items() for key, text in _leaves(sub, f"{path}{name}.").items()}
    if isinstance(tree, list):
        return {key: text for k, sub in enumerate(tree) for key, text in _leaves(sub, f"{path}{k}.").items()}
    return {path.rstrip("."): str(tree)}


def _placeholders(text: str) -> set[tuple[str, str]]:
    """The (field, format spec) pairs of a format string, e.g. {('v', '.0f')}."""
    return {(field, spec) for _, field, spec, _ in string.Formatter().parse(text) if field is not None}


def test_every_configurable_language_has_a_words_file_and_no_other_file_is_there():
    assert sorted(path.stem for path in WORDS_DIR.glob("*.yaml")) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en-GB"])
def test_each_words_file_has_every_english_key_and_the_same_placeholders(language):
    english = _leaves(yaml.safe_load((WORDS_DIR / "en-GB.yaml").read_text(encoding="utf-8")))
    other = _leaves(yaml.safe_load((WORDS_DIR / f"{language}.yaml").read_text(encoding="utf-8")))
    assert sorted(set(english) ^ set(other)) == []  # missing or extra keys (list items by index)
    differ = {key: (_placeholders(english[key]), _placeholders(other[key])) for key in english
              if _placeholders(english[key]) != _placeholders(other[key])}
    assert differ == {}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en-GB"])
def test_translated_files_say_they_await_review_by_a_native_speaker(language):
    header = (WORDS_DIR / f"{language}.yaml").read_text(encoding="utf-8").split("\ndates:")[0]
    assert "AWAITS REVIEW by a native speaker" in header


def test_the_advice_table_has_every_text_in_every_language():
    load_advisories(None, LANGUAGES)  # raises ConfigError naming the key of a missing text


def test_kinds_read_as_words_in_each_language():
    assert kind_words("clan_house", "en-GB") == "clan house"
    assert kind_words("clan_house", "ta-MY") != "clan_house" and "_" not in kind_words("public_space", "zh-CN")
    assert kind_words("boat_shed", "ms-MY") == "boat shed"  # a kind the files do not know: its words
    assert kind_words(None, "en-GB") == ""


def test_a_language_without_a_words_file_is_an_error_naming_the_file():
    with pytest.raises(ConfigError, match=r"words[/\\]xx-XX\.yaml: cannot read the words of xx-XX"):
        words("xx-XX")
