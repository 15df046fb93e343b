"""Grading spec of the tiny assignment: held-out inputs for the three functions, and their scoring."""

import numpy as np

from .. import Check, describe

NAME = "tiny"
VERSION = "1"

EXPORTS = {
    "check_scale": {"scaled": lambda v, inp: v("scale")(inp["x"], 3.0)},
    "check_normalize": {"normalized": lambda v, inp: v("normalize")(inp["v"])},
    "check_fit": {"line": lambda v, inp: v("fit_line")(inp["lx"], inp["ly"])},
}


def make_hidden(rng, smoke):
    x = rng.normal(size=20)
    v = rng.normal(3.0, 2.0, size=50)
    lx = rng.uniform(size=30)
    ly = 3.0 * lx + 1.0 + rng.normal(0, 0.01, size=30)
    return {"x": x, "v": v, "lx": lx, "ly": ly, "scaled": 3.0 * x, "normalized": (v - v.mean()) / v.std(),
            "line": np.polyfit(lx, ly, 1)}


def sandbox_inputs(hidden):
    return {k: hidden[k] for k in ("x", "v", "lx", "ly")}


def _close(name, found, target, atol=1e-6, hidden=False):
    if found is None:
        return Check(name, False, f"an array like {describe(target)}", "nothing", hidden)
    ok = found.shape == target.shape and bool(np.allclose(found, target, atol=atol))
    return Check(name, ok, f"shape {target.shape}, values within {atol:g} of the reference",
                 describe(found) + ("" if ok else ", values differ"), hidden)


def score(grade_id, found, errors, hidden):
    key = next(iter(EXPORTS[grade_id]))
    arr = found.get(key)
    err = errors.get(key)
    if arr is None:
        return [Check(key, False, f"{key} computed from held-out inputs", f"an error: {err}" if err else "nothing")]
    checks = [_close(key, arr, hidden[key])]
    checks.append(Check("finite", bool(np.all(np.isfinite(arr))), "", "", hidden=True))
    return checks
