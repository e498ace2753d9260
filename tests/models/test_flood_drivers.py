import lightgbm as lgb
import numpy as np
import pandas as pd

from models.flood import flood_drivers


def test_flood_drivers_match_lightgbm_pred_contrib():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(3000, 5)), columns=list("abcde"))
    frame.loc[::7, "c"] = np.nan
    frame["e"] = frame["e"].round()
    label = ((frame["a"] + frame["c"].fillna(1) + 0.5 * frame["e"]) > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1}, lgb.Dataset(frame, label), 20)
    contrib = booster.predict(frame, pred_contrib=True)[:, :-1]
    order, values = flood_drivers(booster, frame, top=3)
    expected = np.argsort(-contrib, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_allclose(values, np.take_along_axis(contrib, expected, axis=1), rtol=1e-9, atol=1e-12)
