// Package monitoring runs tripcast's monitoring loop on top of package
// monitor's figures: it builds and stores a model version's reference at
// training time, reads a current window (the prediction log, with ground
// truth when a TruthReader is given, or a month scored on the spot),
// compares them into a report, stores the report as JSON and as one
// self-contained HTML page in the blob store, appends its summary figures to
// a time series, sets Prometheus gauges, and runs all of it on a timer under
// a lease. Alert rules and webhooks are package alert's.
//
// A report never re-reads or re-trains the reference: the reference is a
// count-table profile (monitor.Profile) stored as reference.json beside the
// model artifact, with the version's validation figures.
package monitoring
