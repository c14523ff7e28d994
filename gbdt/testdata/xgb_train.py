"""Train with XGBoost: xgb_train.py TRAIN.csv INPUT.csv MODEL.json CATEGORICAL

Trains XGBoost 1.7 (hist, depth 6, 20 rounds) on TRAIN.csv (header: feature
names then the label; an empty cell is missing), with the columns named in
CATEGORICAL (comma-separated, may be empty) as categorical features, saves
the model as JSON and prints one prediction per row of INPUT.csv (the same
features, no label). Used by gbdt's TestWeLoadXGBoostModel.
"""
import sys

import numpy as np
import xgboost as xgb


def read(path):
    with open(path) as f:
        names = f.readline().strip().split(",")
    a = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float32,
                      missing_values="", filling_values=np.nan)
    return names, a.reshape(-1, len(names))


names, a = read(sys.argv[1])
feats = names[:-1]
cats = [c for c in sys.argv[4].split(",") if c]
types = ["c" if n in cats else "q" for n in feats]
d = xgb.DMatrix(a[:, :-1], label=a[:, -1], feature_names=feats, feature_types=types,
                enable_categorical=bool(cats))
params = {"tree_method": "hist", "max_depth": 6, "eta": 0.3, "seed": 0, "nthread": 1}
if cats:
    params["max_cat_to_onehot"] = 1
bst = xgb.train(params, d, 20)
bst.save_model(sys.argv[3])
_, x = read(sys.argv[2])
dx = xgb.DMatrix(x, feature_names=feats, feature_types=types, enable_categorical=bool(cats))
for v in bst.predict(dx):
    print("%.9g" % v)
