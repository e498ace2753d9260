"""What to do: the advice table of configs/advisories.yaml, by asset kind, hazard and alert level.

Flood has levels 1-4 (a warning area's: watch, prepare, move collections off the floor, close the
site); heat 1-3 (MET Malaysia's); both an `after` for the message that ends an alert. Apart from
the kinds, `wbgt_audiences` gives advice per audience (visitors, outdoor staff, conservation
workers) for the hours of a WBGT band's window (bands 1 and 2, NEA's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines.config import ConfigError, Language

DEFAULT_ADVISORIES = Path(__file__).resolve().parents[2] / "configs" / "advisories.yaml"
REQUIRED_LANGUAGES = ("en-GB", "ms-MY")
Level = Literal[1, 2, 3, 4, "after"]
LEVELS: dict[str, tuple[Level, ...]] = {"flood": (1, 2, 3, 4, "after"), "heat": (1, 2, 3, "after")}
Band = Literal[1, 2]
Audience = Literal["visitors", "outdoor_staff", "conservation"]
AUDIENCES: tuple[Audience, ...] = ("visitors", "outdoor_staff", "conservation")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HazardAdvice(_Table):
    flood: dict[Level, dict[Language, str]] = {}
    heat: dict[Level, dict[Language, str]] = {}


class Advisories(_Table):
    default: HazardAdvice
    kinds: dict[str, HazardAdvice] = {}
    wbgt_audiences: dict[Band, dict[Audience, dict[Language, str]]] = {}

    def audience_advice(self, band: int, language: str) -> list[tuple[str, str]]:
        """(audience, advice in `language`, English if absent) for the hours of WBGT `band`, in AUDIENCES'
        order; empty for band 0 or a table without `wbgt_audiences`."""
        texts = self.wbgt_audiences.get(band, {})
        return [(audience, texts[audience].get(language) or texts[audience]["en-GB"])
                for audience in AUDIENCES if audience in texts]

    def text(self, kind: str | None, hazard: str, level: Level, language: str) -> str:
        """The advice for a site of `kind` at `level` of `hazard`, in `language` (English if absent)."""
        for table in (self.kinds.get(str(kind)), self.default):
            texts = getattr(table, hazard, {}).get(level) if table is not None else None
            if texts:
                return texts.get(language) or texts["en-GB"]
        raise KeyError(f"no advice for {hazard} level {level}")  # load_advisories makes this unreachable


def load_advisories(path: Path | None, languages: tuple[str, ...]) -> Advisories:
    """Read and validate the advice table; ConfigError naming the file and key of any problem.

    Every text needs REQUIRED_LANGUAGES and each of `languages`; `default` needs every level of
    both hazards, so any kind, hazard and level has advice.
    """
    path = Path(path) if path is not None else DEFAULT_ADVISORIES
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        table = Advisories.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML: {err}") from err
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from err
    problems = [f"default.{hazard}.{level}: missing" for hazard, levels in LEVELS.items() for level in levels
                if level not in getattr(table.default, hazard)]
    problems += [f"{where}.heat.4: heat has levels 1-3" for where, advice in
                 {"default": table.default, **{f"kinds.{k}": a for k, a in table.kinds.items()}}.items()
                 if 4 in advice.heat]
    needed = dict.fromkeys((*REQUIRED_LANGUAGES, *languages))
    sections = {"default": table.default} | {f"kinds.{kind}": advice for kind, advice in table.kinds.items()}
    for where, advice in sections.items():
        for hazard in ("flood", "heat"):
            for level, texts in getattr(advice, hazard).items():
                problems += [f"{where}.{hazard}.{level}: no {language} text" for language in needed
                             if not (texts.get(language) or "").strip()]
    if table.wbgt_audiences:  # optional, but whole where given
        problems += [f"wbgt_audiences.{band}.{audience}: missing" for band in (1, 2) for audience in AUDIENCES
                     if audience not in table.wbgt_audiences.get(band, {})]
        problems += [f"wbgt_audiences.{band}.{audience}: no {language} text"
                     for band, by_audience in table.wbgt_audiences.items() for audience, texts in by_audience.items()
                     for language in needed if not (texts.get(language) or "").strip()]
    if problems:
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    return table
