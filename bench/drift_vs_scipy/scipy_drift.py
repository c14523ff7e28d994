"""Evidently's legacy default drift tests with numpy and scipy, on raw columns.

Usage: scipy_drift.py DIR ITERS

DIR holds scenarios.json (a list of {"name", "ref", "cur", "columns":
[{"name", "kind", "method"}]}, method "" meaning Evidently's default choice)
and the CSV files it names, NAME.csv (header row, an empty cell is missing). Each
scenario is computed ITERS times after loading (loading is not timed); the
script prints one JSON object: scenario name -> {"seconds": [...],
"columns": {name: {"method", "score", "drift"}}}.
"""
import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance


def binned(ref, cur, kind, n_bins=30, fill_zeros=True):
    """Evidently's get_binned_data."""
    if kind == "num" and len(np.unique(ref)) > n_bins:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        p = np.histogram(ref, edges)[0] / len(ref)
        q = np.histogram(cur, edges)[0] / len(cur)
    else:
        keys = np.union1d(ref, cur)
        rv, rc = np.unique(ref, return_counts=True)
        cv, cc = np.unique(cur, return_counts=True)
        p = np.zeros(len(keys))
        q = np.zeros(len(keys))
        p[np.searchsorted(keys, rv)] = rc
        q[np.searchsorted(keys, cv)] = cc
        p /= len(ref)
        q /= len(cur)
    if fill_zeros:
        for a in (p, q):
            lo = a[a != 0].min()
            np.place(a, a == 0, lo / 10**6 if lo <= 0.0001 else 0.0001)
    return p, q


def wasserstein(ref, cur, kind):
    return stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)


def jensenshannon(ref, cur, kind):
    p, q = binned(ref, cur, kind, fill_zeros=False)
    return distance.jensenshannon(p, q)


def ks(ref, cur, kind):
    return stats.ks_2samp(ref, cur)[1]


def chisquare(ref, cur, kind):
    keys = np.union1d(ref, cur)
    rv, rc = np.unique(ref, return_counts=True)
    cv, cc = np.unique(cur, return_counts=True)
    f_exp = np.zeros(len(keys))
    f_obs = np.zeros(len(keys))
    f_exp[np.searchsorted(keys, rv)] = rc * (len(cur) / len(ref))
    f_obs[np.searchsorted(keys, cv)] = cc
    with np.errstate(divide="ignore", invalid="ignore"):
        return stats.chisquare(f_obs, f_exp)[1]


def z(ref, cur, kind):
    if len(np.unique(ref)) == 1 and len(np.unique(cur)) == 1 and ref[0] == cur[0]:
        return 1.0
    key = min(ref.min(), cur.min())
    r = (ref != key).astype(float)
    c = (cur != key).astype(float)
    n1, n2 = len(r), len(c)
    p1, p2 = r.sum() / n1, c.sum() / n2
    pp = (p1 * n1 + p2 * n2) / (n1 + n2)
    zs = (p1 - p2) / np.sqrt(pp * (1 - pp) * (1.0 / n1 + 1.0 / n2))
    return 2 * (1 - stats.norm.cdf(abs(zs)))


def psi(ref, cur, kind):
    p, q = binned(ref, cur, kind)
    return np.sum((p - q) * np.log(p / q))


def kl_div(ref, cur, kind):
    p, q = binned(ref, cur, kind)
    return stats.entropy(p, q)


TESTS = {"wasserstein": wasserstein, "jensenshannon": jensenshannon, "ks": ks,
         "chisquare": chisquare, "z": z, "psi": psi, "kl_div": kl_div}
PVALUE = {"ks", "chisquare", "z"}


def default_method(ref, cur, kind):
    """Evidently's legacy get_default_stattest."""
    u = len(np.union1d(ref, cur))
    if len(ref) <= 1000:
        if kind == "num" and u > 5:
            return "ks"
        return "chisquare" if u > 2 else "z"
    if kind == "num" and u > 5:
        return "wasserstein"
    return "jensenshannon"


def run(scenario, ref, cur):
    out = {}
    for col in scenario["columns"]:
        name, kind = col["name"], col["kind"]
        r = ref[name][~np.isnan(ref[name])]
        c = cur[name][~np.isnan(cur[name])]
        method = col["method"] or default_method(r, c, kind)
        score = float(TESTS[method](r, c, kind))
        threshold = 0.05 if method in PVALUE else 0.1
        drift = score < threshold if method in PVALUE else score >= threshold
        out[name] = {"method": method, "score": score, "drift": bool(drift)}
    return out


def load(path):
    data = np.genfromtxt(path, delimiter=",", names=True, dtype=float, missing_values="", filling_values=np.nan)
    return {n: np.ascontiguousarray(data[n]) for n in data.dtype.names}


def main():
    folder, iters = sys.argv[1], int(sys.argv[2])
    with open(folder + "/scenarios.json") as f:
        scenarios = json.load(f)
    result = {}
    cache = {}
    for s in scenarios:
        for key in ("ref", "cur"):
            if s[key] not in cache:
                cache[s[key]] = load(folder + "/" + s[key] + ".csv")
        ref, cur = cache[s["ref"]], cache[s["cur"]]
        seconds = []
        for _ in range(iters):
            t0 = time.perf_counter()
            cols = run(s, ref, cur)
            seconds.append(time.perf_counter() - t0)
        result[s["name"]] = {"seconds": seconds, "columns": cols}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
