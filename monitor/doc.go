// Package monitor computes tripcast's monitoring figures: drift per column
// with Evidently's default tests, data quality, and model quality against
// ground truth, from count tables rather than raw rows. It stores nothing,
// reads nothing and renders nothing: the reference storage, the ground-truth
// join, report storage, HTML, alerts and the `tripcast monitor` command are
// built on this API.
//
// # Flow
//
//  1. At training time, build the reference Profile once from the training
//     month (Builder or NewProfile with TripSpecs(true) and TripColumns, plus
//     the model's predictions as ColPrediction) and store its JSON with the
//     model version. DecodeProfile reads it back and validates it.
//  2. For a window, build the current Profile the same way: a Builder fed in
//     batches (Add per column, AddRow per row) as the prediction log is read;
//     memory stays that of the count tables however many rows the window has.
//     Builders and Accumulators Merge, so parts can be counted in parallel,
//     and Builder.AddProfile sums stored window profiles (hours into a day).
//  3. NewReport(ref, cur, Options) gives the Report: drift per column, dataset
//     drift, prediction drift, data quality, asked quantiles.
//  4. With ground truth, feed (prediction, actual, keys...) pairs to a
//     ModelAccumulator (keys such as pickup borough and hour) and attach its
//     Result with Report.SetModelQuality; Report.SetValidation with the
//     version's stored validation figures adds rmse_change, for the "RMSE
//     worse than validation by X %" alert.
//
// The Report marshals to JSON with the course's panel names
// (prediction_drift, num_drifted_columns, share_missing_values) and
// Evidently's (dataset_drift, share_drifted, columns: name → method, score,
// drift, threshold, status). Every figure that cannot be computed is null,
// never NaN.
//
// # Count tables
//
// A column is kept as Counts: its distinct values, their counts and the
// number of missing values (NaN, ±Inf; Evidently drops them per column).
// Every test here is computed exactly from that form, so what each test keeps
// is the same bounded table:
//
//   - Wasserstein (normed by the reference's population std): the merged
//     CDFs at the distinct values; exact.
//   - Kolmogorov–Smirnov: the CDFs at the distinct values (ties as scipy);
//     exact, including scipy's exact p-value below 10,001 values per side.
//   - Jensen–Shannon, PSI, KL: per-value shares, or for a numerical column
//     with more than 30 distinct reference values Sturges bins over
//     reference+current, counted from the table: exact.
//   - chi-square and z-test: per-value counts; exact.
//
// Memory is bounded by distinct values: 265 zones, 24 hours, passenger
// counts, distances in hundredths of a mile and durations in whole seconds
// are each a few thousand values at most, whatever the number of rows. A
// continuous column (predictions) sets ColumnSpec.Quantum to round values to
// a multiple first; TripSpecs uses 0.001 minute for the prediction, which
// moves a normed Wasserstein score by at most 0.0005/std.
//
// # Test choice (Evidently's legacy DataDriftPreset)
//
// With n the reference's non-missing values and u the distinct values of
// reference and current together:
//
//	n > 1000:  numerical with u > 5: Wasserstein normed, drift at score >= 0.1
//	           otherwise Jensen–Shannon (natural log), drift at score >= 0.1
//	n <= 1000: numerical with u > 5: KS p-value, drift at p < 0.05
//	           otherwise chi-square p-value (u > 2) or z-test p-value, drift at p < 0.05
//
// PSI and KL (drift at score >= 0.1) and every other test can be chosen per
// column with DriftOptions.Tests, with its own threshold. The dataset drifts
// when at least DatasetShare (0.5) of the tested columns drift. The scores
// match scipy: the fixtures in ../shared/fixtures/drift to 1e-6 relative
// (tested), and bench/drift_vs_scipy, which also covers PSI, KL, numerical
// Jensen–Shannon, chi-square, z and both KS regimes, to about 1e-13. KS
// p-values follow scipy's ks_2samp: exact up to 10,000 values per side (the
// lattice-path probability, O(n1·n2) time), above that the Kolmogorov
// distribution of round(n1·n2/(n1+n2)) as scipy's kstwo computes it.
//
// # Statuses
//
// Each column has a Status; only StatusOK carries a score:
//
//   - not_enough_data: fewer than DriftOptions.MinRows (2) current values: an
//     empty window, a window of one row, an all-missing column.
//   - no_reference: the reference has no value in the column.
//   - constant: the reference holds a single value (zero variance): no score;
//     the column drifts when the current window holds any other value.
//   - no_score: the test gave no finite number.
//
// Columns without a decision (not constant, not ok) are left out of
// num_columns and share_drifted; share_drifted is null when no column was
// tested.
//
// # Data and model quality
//
// Quality reports per column the missing share, values outside the spec's
// [Min, Max] (zones outside 1..265, negative or absurd distances), zeros when
// asked (zero distances), values of a categorical column absent from the
// reference (unseen zones), and min, mean, max; and the overall share of
// missing cells. ModelAccumulator gives RMSE, MAE, R², mean error
// (prediction − actual), quantiles p50/p90/p99 of the absolute error (kept at
// DefaultErrorResolution) and the same figures per value of each breakdown
// key, worst RMSE first.
package monitor
