// Package gbdt trains and runs gradient-boosted regression trees (squared
// error), in pure Go.
//
// Training is shaped like XGBoost's hist method, with XGBoost's parameter
// names and meanings (see Params): quantile bins per feature (max_bin),
// a binned uint8/uint16 column-major matrix, depth-wise growth to max_depth,
// histograms of (gradient, hessian) sums with the sibling's histogram
// obtained by subtraction, split gain with lambda/alpha/gamma, min_child_weight
// on the hessian, a learned default direction for missing values at every
// split, Bernoulli row subsampling and colsample_bytree. Columns marked
// Categorical get native categorical splits: the node's categories are
// ordered by their (smoothed) mean gradient and the best prefix of that
// order becomes a category set (the sorted-partition method of LightGBM
// and XGBoost), limited to max_cat_threshold categories on the smaller
// side. Training is deterministic for a seed and independent of NThread:
// every parallel task sums a fixed range of rows and results are combined
// in a fixed order.
//
// Categorical zones, measured (green 2021-01 → 2021-02, test 2021-03, raw
// features PULocationID, DOLocationID, trip_distance, hour, weekday,
// DefaultParams): zones as numbers, valid RMSE 5.60 / test 5.53 after 1,860
// trees; zones categorical, 5.49 / 5.42 after 480 trees. Categorical splits
// need strong L2 (lambda 100): with lambda 1 (eta 0.1) they overfit rare
// zones and are no better than numeric zones (5.63 either way).
//
// Models are flat node arrays (Model). Files are XGBoost's JSON model
// schema: XGBoost 1.7 loads the models tripcast writes (categorical splits
// included, with enable_categorical) and tripcast loads models written by
// XGBoost 1.x and 2.x (gbtree, identity-link regression objectives).
// tripcast's own metadata goes in learner.attributes (Model.Attributes).
package gbdt
