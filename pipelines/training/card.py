"""The model card of a training run: its periods, data hashes, parameters and scores."""

from __future__ import annotations

from models.card import model_card
from pipelines.storage import sha256_file


def training_card(config, hazard, features, params, issue_dates, split, rows, scores, paths, extra) -> dict:
    issued = issue_dates[rows["issue_index"].values]
    period = {"train_start": issued[split == "train"].min().date().isoformat(),
              "train_end": issued[split == "train"].max().date().isoformat(),
              "valid_end": issued[split == "valid"].max().date().isoformat(),
              "test_start": issued[split == "test"].min().date().isoformat(),
              "test_end": issued[split == "test"].max().date().isoformat()}
    hashes = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "obs": {name: sha256_file(config.bundle_dir / "obs" / name)
                      for name in ("flood_events.csv", "temperature.csv")}}
    if (split == "calib").any():
        period["calib_start"] = issued[split == "calib"].min().date().isoformat()
        period["calib_end"] = issued[split == "calib"].max().date().isoformat()
    clean = {k: v for k, v in params.items() if k not in ("metric",)}
    kind = "time-ordered, spatially blocked" if "held_out_blocks" in extra else "time-ordered"
    protocol = {"validation": [d.isoformat() for d in config.protocol.validation],
                "test": [d.isoformat() for d in config.protocol.test]}
    return model_card(hazard=hazard, features=features, params=clean, period=period, data_hashes=hashes,
                      scores=scores, extra={"city": config.city.slug, "split": kind, "role": "evaluation",
                                            "protocol": protocol, **extra})


def card_headline(card: dict) -> str:
    """The sealed test period's scores of a flood or heat card in one line, as the CLI and the Prefect UI show them."""
    test = card["scores"]["test"]
    if card["hazard"] == "flood":
        return (f"ROC AUC {test['roc_auc']:.3f}, PR AUC {test['pr_auc']:.3f}, Brier {test['brier']:.5f}, "
                f"BSS {test['brier_skill_vs_climatology']:.3f} (against the reports)")
    return (f"MAE {test['mae_degC']:.2f} degC (regional {test['baseline_regional_mae_degC']:.2f}), "
            f"10-90% coverage {test['interval_coverage']:.2f}")
