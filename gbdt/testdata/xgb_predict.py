"""Predict with XGBoost: xgb_predict.py MODEL.json INPUT.csv

Loads a JSON model with xgboost.Booster, reads a CSV whose header names the
model's features (an empty cell is missing), and prints one prediction per
line. Categorical features (type "c" in the model) are passed as such.
Used by gbdt's TestXGBoostLoadsOurModel.
"""
import sys

import numpy as np
import xgboost as xgb

bst = xgb.Booster(model_file=sys.argv[1])
with open(sys.argv[2]) as f:
    names = f.readline().strip().split(",")
X = np.genfromtxt(sys.argv[2], delimiter=",", skip_header=1, dtype=np.float32,
                  missing_values="", filling_values=np.nan)
if X.ndim == 1:
    X = X.reshape(-1, len(names))
types = bst.feature_types
d = xgb.DMatrix(X, feature_names=names, feature_types=types,
                enable_categorical=types is not None and "c" in types)
for v in bst.predict(d):
    print("%.9g" % v)
