"""XGBoost side of bench/train_vs_xgboost (run by main.go with /usr/bin/python3).

Reads the CSVs main.go wrote (same rows and features as tripcast), prints
"ready", then trains XGBoost hist with the given parameters once per "train"
line on stdin (printing each training's times as JSON), and on "predict"
times Booster.predict on the validation rows (with XGBoost's model and with
tripcast's model) and prints one JSON object.
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    a = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float32, missing_values="", filling_values=np.nan)
    return header[:-1], a[:, :-1], a[:, -1]


def main():
    args = json.loads(sys.argv[1])
    names, Xt, yt = load(args["train"])
    _, Xv, yv = load(args["valid"])
    dv = xgb.DMatrix(Xv, label=yv, feature_names=names, nthread=args["nthread"])
    params = {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "nthread": args["nthread"],
        "max_depth": args["max_depth"],
        "eta": args["eta"],
        "max_bin": args["max_bin"],
        "seed": 0,
    }
    # Trainings on request, interleaved with tripcast's by main.go so both
    # see the same machine: one line "train" per training, answered with
    # its times; "predict" goes on below. Each training gets a fresh
    # DMatrix: XGBoost caches its binned matrix in the DMatrix, and
    # tripcast bins in every training too.
    print("ready", flush=True)
    bst, train_s, train_cpu = None, float("inf"), float("inf")
    for line in sys.stdin:
        if line.strip() != "train":
            break
        dt = xgb.DMatrix(Xt, label=yt, feature_names=names, nthread=args["nthread"])
        t0, c0 = time.perf_counter(), time.process_time()
        bst = xgb.train(params, dt, num_boost_round=args["rounds"])
        w, c = time.perf_counter() - t0, time.process_time() - c0
        train_s, train_cpu = min(train_s, w), min(train_cpu, c)
        print(json.dumps({"train_seconds": w, "train_cpu_seconds": c}), flush=True)
    pred = bst.predict(dv)
    rmse = float(np.sqrt(np.mean((pred.astype(np.float64) - yv) ** 2)))

    # Batch prediction of tripcast's model by XGBoost: the same model and
    # rows that tripcast's PredictBatch was timed on.
    tc = xgb.Booster(model_file=args["tripcast_model"])
    tc.set_param({"nthread": args["nthread"]})
    def timed_predict():
        # A fresh DMatrix each time: XGBoost caches predictions per DMatrix,
        # and a cached answer is not a prediction. Only predict is timed.
        dm = xgb.DMatrix(Xv, feature_names=names, nthread=args["nthread"])
        t0, c0 = time.perf_counter(), time.process_time()
        p = tc.predict(dm)
        return (time.perf_counter() - t0, time.process_time() - c0), p

    predict_s, predict_cpu = float("inf"), float("inf")
    tcpred = None
    for _ in range(args["reps"]):
        (w, c), tcpred = timed_predict()
        predict_s, predict_cpu = min(predict_s, w), min(predict_cpu, c)
    t0 = time.perf_counter()
    dm = xgb.DMatrix(Xv, feature_names=names, nthread=args["nthread"])
    dmatrix_s = time.perf_counter() - t0
    np.savetxt(args["xgb_pred_out"], tcpred, fmt="%.9g")
    print(json.dumps({
        "version": xgb.__version__,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "valid_rmse": rmse,
        "predict_seconds": predict_s,
        "predict_cpu_seconds": predict_cpu,
        "dmatrix_seconds": dmatrix_s,
    }), flush=True)


if __name__ == "__main__":
    main()
