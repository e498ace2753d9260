"""The daily forecast's boosters with their trees compiled to native code (treelite + tl2cgen, gcc).

A registered booster file's library sits beside it, `<name>.<sha256 of the file, 16>.so`: a
retrained or re-registered model never meets a stale library. The first daily forecast that loads
the model compiles it (training, backtests and the tests that only train never pay for it: the
island's 400-tree flood classifier took 2.4 s), writes it atomically and, at every load,
checks it against LightGBM on rows that sit on every split threshold (`threshold_rows`).

The numbers are LightGBM's to the bit: treelite keeps LightGBM's thresholds and leaf values as
float64 and the compiled code widens each float32 feature to float64 before comparing, as LightGBM
does. (With float32 thresholds a value equal to a threshold rounded to float32 could take the other
branch.) `quantize` first finds, per feature, which of the model's sorted float64 thresholds the
value lies between, then branches on that index: the same branches, about 1.6 times faster on the
island's rows. Leaves are summed in double in tree order and the sigmoid is the same libm call.

Where treelite cannot read a model (linear trees: the heat models), or the compiler, the library or
the check fails, the booster stays LightGBM's and one log line says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

from models.boosting import CompiledBooster, TreeEvaluator, predict_trees, threshold_rows
from pipelines.progress import log, warn
from pipelines.storage import sha256_file, write_atomic

TOOLCHAIN = "gcc"
_CHECK_ROWS = 4096  # rows on the split thresholds each library is checked on at load
_LINEAR = "linear trees, which treelite cannot read"


def library_path(model_file: Path, sha256: str) -> Path:
    """Where the compiled trees of the booster file `model_file` (whose bytes hash to `sha256`) live."""
    return model_file.with_name(f"{model_file.stem}.{sha256[:16]}.so")


def with_compiled_trees(boosters: dict[str, lgb.Booster], folder: Path, hashes: dict[str, str],
                        what: str) -> dict[str, lgb.Booster]:
    """`boosters` (registered in `folder` as `<name>.txt`, sha256 of the files in `hashes` if known) as
    CompiledBoosters where their trees compile and pass the check; the others as they were, named
    in one log line with the reason (a warning unless the reason is linear trees)."""
    out, left = {}, {}
    for name, booster in boosters.items():
        if booster.params.get("linear_tree"):
            out[name], left[name] = booster, _LINEAR
            continue
        try:
            file = folder / f"{name}.txt"
            out[name] = compiled_booster(booster, library_path(file, hashes.get(name) or sha256_file(file)))
        except Exception as err:  # noqa: BLE001 - any failure (no tl2cgen, no gcc, a bad library) means LightGBM
            out[name], left[name] = booster, f"{type(err).__name__}: {err}".splitlines()[0]
    if left:
        reasons = "; ".join(sorted(set(left.values())))
        (log if set(left.values()) == {_LINEAR} else warn)(
            f"{what}: LightGBM evaluates {', '.join(sorted(left))} ({reasons})")
    return out


def compiled_booster(booster: lgb.Booster, library: Path) -> CompiledBooster:
    """`booster` evaluating with the compiled trees in `library`, compiled first if absent; raises
    ValueError if they do not give LightGBM's numbers on its threshold rows."""
    if not library.exists():
        start = time.perf_counter()
        write_atomic(library, lambda tmp: compile_trees(booster, tmp))
        log(f"compiled {booster.num_trees()} trees to {library.name} in {time.perf_counter() - start:.1f} s")
    compiled = CompiledBooster(booster, _evaluator(library, int(booster.params.get("num_threads", 0)) or None))
    rows = threshold_rows(booster, _CHECK_ROWS, seed=0)
    for raw_score in (False, True):
        differ = predict_trees(compiled, rows, raw_score=raw_score) != predict_trees(booster, rows, raw_score=raw_score)
        if differ.any():
            raise ValueError(f"{library}: the compiled trees differ from LightGBM on {differ.sum()} of {len(rows)} "
                             f"threshold rows ({'raw score' if raw_score else 'prediction'})")
    return compiled


def compile_trees(booster: lgb.Booster, library: Path) -> Path:
    """Compile the booster's trees (to its best iteration) into the shared library `library` with gcc."""
    import tl2cgen
    import treelite

    with contextlib.redirect_stdout(io.StringIO()):  # tl2cgen prints its progress
        tl2cgen.export_lib(treelite.frontend.from_lightgbm(booster), toolchain=TOOLCHAIN, libpath=library,
                           params={"parallel_comp": os.cpu_count() or 1, "quantize": 1})
    return library


def _evaluator(library: Path, threads: int | None) -> TreeEvaluator:
    import tl2cgen

    predictor = tl2cgen.Predictor(library, nthread=threads)

    def evaluate(matrix: np.ndarray, raw_score: bool) -> np.ndarray:
        return predictor.predict(tl2cgen.DMatrix(matrix), pred_margin=raw_score).reshape(len(matrix))

    return evaluate
