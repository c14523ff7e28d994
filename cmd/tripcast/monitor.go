package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/alert"
	"tripcast/dataset"
	"tripcast/model"
	"tripcast/monitoring"
	"tripcast/predlog"
	"tripcast/tlc"
)

// monitorFlags are the flags of `tripcast monitor`.
type monitorFlags struct {
	reference, current, version, log, html, failOn string
	since, until                                   string
	window                                         time.Duration
	asJSON, save                                   bool
}

func newMonitorCmd(a *app) *cobra.Command {
	var f monitorFlags
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Report drift, data quality and model quality of predictions or a month against a model's reference",
		Long: `monitor compares a current data set with a reference and prints a report: drift per column with
Evidently's default tests, dataset and prediction drift, data quality, and with ground truth RMSE, MAE and R².

--reference is version:<ref> (a registered version of model_name: number, alias or latest; its reference was
stored when it was trained) or a month, stored dataset or TLC parquet file scored on the spot by --version.
Without it, the stored reference of --version.
--current is a month, stored dataset or TLC parquet file scored on the spot (its durations are ground truth);
or give --since and --until to read that window of the prediction log (--log sql or parquet), split into
--window windows (one report each: a month's daily backfill is one command).

Reports are stored (unless --save=false) as JSON and HTML under monitoring/<model>/<window>/ in the blob
store and their figures in the metadata database. --fail-on drift,quality,rmse exits with status 3 when a
report shows dataset or prediction drift, a share of missing values or an RMSE change beyond alert_rules.`,
		Example: `  tripcast monitor --current green/2023-03
  tripcast monitor --since 2023-03-01 --until 2023-03-28 --window 24h --json
  tripcast monitor --reference green/2021-01 --current data/green_tripdata_2023-03.parquet --html report.html --fail-on drift`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.monitor(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.reference, "reference", "", "version:<ref>, or a month, dataset or TLC file (default: the stored reference of --version)")
	fl.StringVar(&f.current, "current", "", "a month, dataset or TLC file scored on the spot (instead of --since/--until)")
	fl.StringVar(&f.version, "version", "", "model version monitored: number, alias or latest (default: champion; the log is then read for every version)")
	fl.StringVar(&f.since, "since", "", "start of the prediction log window (RFC 3339 or 2006-01-02)")
	fl.StringVar(&f.until, "until", "", "end of the prediction log window, excluded")
	fl.DurationVar(&f.window, "window", 0, "report each window of this length between --since and --until (default: one report)")
	fl.StringVar(&f.log, "log", "sql", "prediction log to read: sql (the metadata database) or parquet (the blob store)")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON (an array with several windows)")
	fl.StringVar(&f.html, "html", "", "also write the report as a self-contained HTML page to this file (several windows: one file each, named after the window)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit with status 3 when a report shows: drift, quality, rmse (comma-separated)")
	fl.BoolVar(&f.save, "save", true, "store the reports in the blob store and their figures in the metadata database")
	return cmd
}

// monitorTarget is the monitored model version and its stored reference.
type monitorTarget struct {
	version  *tripcast.ModelVersion
	artifact *model.Artifact
	ref      *monitoring.Reference // nil when the version has none stored
}

// loadMonitorTarget loads version ref of model_name (its model too with
// withModel) and its stored reference (a version trained before references
// were stored has none).
func (a *app) loadMonitorTarget(ctx context.Context, ref string, withModel bool) (*monitorTarget, error) {
	tr, err := a.tracker(ctx, true)
	if err != nil {
		return nil, err
	}
	blobs, err := a.blobStore(ctx)
	if err != nil {
		return nil, err
	}
	v, err := tr.Resolve(ctx, a.cfg.ModelName, ref)
	if err != nil {
		return nil, fmt.Errorf("model %s %s: %w", a.cfg.ModelName, ref, err)
	}
	t := &monitorTarget{version: v}
	if withModel {
		if t.artifact, err = model.LoadRegistered(ctx, tr, a.cfg.ModelName, strconv.Itoa(v.Version)); err != nil {
			return nil, err
		}
	}
	t.ref, err = monitoring.LoadReference(ctx, blobs, monitoring.ReferenceKey(v.ArtifactKey))
	if err != nil && tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		return nil, err
	}
	return t, nil
}

// scoreData resolves a month, dataset or TLC file and scores it with art.
func (a *app) scoreData(ctx context.Context, flag, ref string, art *model.Artifact) (*monitoring.Current, monitoring.Window, error) {
	store, err := a.blobStore(ctx)
	if err != nil {
		return nil, monitoring.Window{}, err
	}
	d, err := dataset.Resolve(ctx, store, ref, tlc.RuleDefault)
	if err != nil {
		return nil, monitoring.Window{}, fmt.Errorf("--%s %s: %w", flag, ref, err)
	}
	cur, err := monitoring.ScoreTrips(art, d.Trips, nil, ref)
	if err != nil {
		return nil, monitoring.Window{}, fmt.Errorf("--%s %s: %w", flag, ref, err)
	}
	return cur, pickupWindow(d.Trips), nil
}

// pickupWindow is the window of trips' pickup times, to whole days (UTC).
func pickupWindow(t *tripcast.Trips) monitoring.Window {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, p := range t.Pickup {
		if p != tlc.NullTime {
			lo, hi = min(lo, p), max(hi, p)
		}
	}
	if lo > hi {
		return monitoring.Window{}
	}
	day := 24 * time.Hour
	return monitoring.Window{Start: time.UnixMicro(lo).UTC().Truncate(day), End: time.UnixMicro(hi).UTC().Truncate(day).Add(day)}
}

// parseWhen reads a --since/--until time: RFC 3339 or a date (UTC).
func parseWhen(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, tripcast.FieldError(flag, "%q is not a time: use RFC 3339 (2023-03-01T00:00:00Z) or a date (2023-03-01)", s)
}

func (a *app) monitor(ctx context.Context, f monitorFlags) error {
	rules, err := alert.ParseRules(a.cfg.AlertRules)
	if err != nil {
		return err
	}
	fail := map[string]bool{}
	for _, s := range strings.Split(f.failOn, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "drift", "quality", "rmse":
			fail[s] = true
		default:
			return tripcast.FieldError("fail-on", "%q: use drift, quality or rmse", s)
		}
	}
	if (f.current == "") == (f.since == "" && f.until == "") {
		return tripcast.FieldError("current", "give either --current or --since and --until")
	}
	vref := f.version
	if vref == "" {
		vref = tripcast.ChampionAlias
	}
	target, err := a.loadMonitorTarget(ctx, vref, true)
	if err != nil {
		return err
	}
	ref := target.ref
	switch r, isVersion := strings.CutPrefix(f.reference, "version:"); {
	case isVersion:
		other, err := a.loadMonitorTarget(ctx, r, false)
		if err != nil {
			return err
		}
		if ref = other.ref; ref == nil {
			return tripcast.Errorf(tripcast.ENOTFOUND, "model %s version %d has no stored reference (trained before references were stored): give a month as --reference", a.cfg.ModelName, other.version.Version)
		}
	case f.reference != "":
		cur, _, err := a.scoreData(ctx, "reference", f.reference, target.artifact)
		if err != nil {
			return err
		}
		ref = monitoring.ReferenceFromCurrent(cur)
	case ref == nil:
		return tripcast.Errorf(tripcast.ENOTFOUND, "model %s version %d has no stored reference (trained before references were stored): give a month as --reference", a.cfg.ModelName, target.version.Version)
	}
	version := ""
	if f.version != "" {
		version = strconv.Itoa(target.version.Version)
	}
	r := &monitoring.Runner{Model: a.cfg.ModelName, Version: version, Reference: ref, Logger: a.log}
	if f.save {
		if r.Store, err = a.monitorStore(ctx, nil); err != nil {
			return err
		}
	}
	var docs []*monitoring.Document
	if f.current != "" {
		cur, w, err := a.scoreData(ctx, "current", f.current, target.artifact)
		if err != nil {
			return err
		}
		d, err := r.Finish(ctx, w, cur)
		if err != nil {
			return err
		}
		docs = append(docs, d)
	} else {
		if r.Log, err = a.predictionReader(ctx, f.log); err != nil {
			return err
		}
		since, err := parseWhen("since", f.since)
		if err != nil {
			return err
		}
		until, err := parseWhen("until", f.until)
		if err != nil {
			return err
		}
		step := f.window
		if step == 0 {
			step = until.Sub(since)
		}
		ws, err := monitoring.Windows(since, until, step)
		if err != nil {
			return err
		}
		for _, w := range ws {
			d, err := r.Window(ctx, w)
			if err != nil {
				return err
			}
			docs = append(docs, d)
		}
	}
	if err := a.printReports(docs, f, ref); err != nil {
		return err
	}
	var failed []string
	for _, d := range docs {
		for _, c := range rules.Evaluate(d.Figures(nil)) {
			kind := map[string]string{alert.RuleDatasetDrift: "drift", alert.RulePredictionDrift: "drift",
				alert.RuleMissingShare: "quality", alert.RuleRMSEChange: "rmse"}[c.Rule]
			if c.Firing && fail[kind] {
				failed = append(failed, fmt.Sprintf("%s: %s = %.4g", d.Window.Key(), c.Rule, c.Value))
			}
		}
	}
	if len(failed) > 0 {
		return &exitError{code: 3, err: fmt.Errorf("monitoring checks failed (--fail-on %s): %s", f.failOn, strings.Join(failed, "; "))}
	}
	return nil
}

// printReports prints the reports (text or JSON) and writes the HTML pages.
func (a *app) printReports(docs []*monitoring.Document, f monitorFlags, ref *monitoring.Reference) error {
	if f.asJSON {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		var v any = docs
		if len(docs) == 1 {
			v = docs[0]
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		for _, d := range docs {
			fmt.Fprintf(a.out, "%s  rows %d  dataset drift %v (%d of %d columns)  prediction drift %s  missing %s  rmse %s  rmse change %s\n",
				d.Window.Key(), d.Rows, d.DatasetDrift, d.NumDriftedColumns, d.NumColumns, fig(d.PredictionDrift),
				fig(d.ShareMissingValues), fig(d.RMSE), fig(d.RMSEChange))
			if d.Note != "" {
				fmt.Fprintf(a.out, "  %s\n", d.Note)
			}
		}
	}
	if f.html == "" {
		return nil
	}
	for _, d := range docs {
		name := f.html
		if len(docs) > 1 {
			ext := filepath.Ext(name)
			name = strings.TrimSuffix(name, ext) + "-" + d.Window.Key() + ext
		}
		out, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		err = monitoring.WriteHTML(out, d, ref)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--html %s: %w", name, err)
		}
	}
	return nil
}

// fig formats a figure for the text output, "-" when absent.
func fig(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', 4, 64)
}

// monitorStore returns where reports go: the blob store, the metadata
// database's time series, and gauges on reg (may be nil).
func (a *app) monitorStore(ctx context.Context, g *monitoring.Gauges) (*monitoring.Store, error) {
	db, blobs, err := a.logStores(ctx)
	if err != nil {
		return nil, err
	}
	return &monitoring.Store{Blobs: blobs, Series: db, Gauges: g}, nil
}

// predictionReader returns the prediction log to read: sql or parquet.
func (a *app) predictionReader(ctx context.Context, which string) (tripcast.PredictionReader, error) {
	db, blobs, err := a.logStores(ctx)
	if err != nil {
		return nil, err
	}
	switch which {
	case "sql":
		return db, nil
	case "parquet":
		return predlog.NewReader(blobs), nil
	}
	return nil, tripcast.FieldError("log", "%q: use sql or parquet", which)
}

// monitorLog starts the scheduled monitoring reports in the background
// (monitoring.Schedule: each finished monitor_window of the SQL prediction
// log reported against the champion's stored reference, by one of the
// processes sharing the metadata database at a time; figures on /metrics
// as tripcast_monitor_*; alerts by alert_rules to alert_webhooks) unless
// monitor_window is 0. It stops when ctx ends or the app closes.
func (s *serving) monitorLog(ctx context.Context, a *app) error {
	window := a.cfg.MonitorInterval()
	if window == 0 {
		return nil
	}
	rules, err := alert.ParseRules(a.cfg.AlertRules)
	if err != nil {
		return err
	}
	store, err := a.monitorStore(ctx, monitoring.NewGauges(s.reg))
	if err != nil {
		return err
	}
	db, _, err := a.logStores(ctx)
	if err != nil {
		return err
	}
	var hooks []string
	for _, u := range strings.Split(a.cfg.AlertWebhooks, ",") {
		if u = strings.TrimSpace(u); u != "" {
			hooks = append(hooks, u)
		}
	}
	notifier := alert.NewNotifier(hooks, alert.NotifierOptions{Log: a.log})
	alerter := &alert.Alerter{Rules: rules, States: db, Notifier: notifier, Log: a.log}
	deadLetters := monitoring.CounterRate(s.reg, "tripcast_dead_letters_total", "tripcast_events_received_total")
	sched := &monitoring.Schedule{Window: window, Leaser: db, Holder: leaseHolder("monitoring"), Logger: a.log,
		Runner: func(ctx context.Context) (*monitoring.Runner, error) {
			t, err := a.loadMonitorTarget(ctx, tripcast.ChampionAlias, false)
			if err != nil {
				return nil, err
			}
			if t.ref == nil {
				return nil, tripcast.Errorf(tripcast.ENOTFOUND, "model %s version %d has no stored reference: retrain it to monitor it", a.cfg.ModelName, t.version.Version)
			}
			return &monitoring.Runner{Model: a.cfg.ModelName, Version: strconv.Itoa(t.version.Version), Reference: t.ref, Log: db,
				Store: store, Alerter: alerter, DeadLetterRate: deadLetters, Logger: a.log}, nil
		}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sched.Run(ctx)
	}()
	a.onClose(func() error {
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		notifier.Close(cctx)
		return nil
	})
	return nil
}

// pipelineMonitor is the monitor pipeline's report step
// (pipeline.Config.Monitor): the champion's predictions in the window of
// monitor_window (24h when scheduled reports are off) ending at the run's
// logical date, against the champion's stored reference, stored like a
// scheduled report (JSON and HTML in the blob store, the time series). It
// returns the report's prefix in the blob store and its headline figures.
func (a *app) pipelineMonitor(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	length := a.cfg.MonitorInterval()
	if length == 0 {
		length = 24 * time.Hour
	}
	w := monitoring.Window{Start: run.LogicalDate.Add(-length), End: run.LogicalDate}
	t, err := a.loadMonitorTarget(ctx, tripcast.ChampionAlias, false)
	if err != nil {
		return nil, err
	}
	if t.ref == nil {
		return nil, tripcast.Errorf(tripcast.ENOTFOUND, "model %s version %d has no stored reference: retrain it to monitor it", a.cfg.ModelName, t.version.Version)
	}
	store, err := a.monitorStore(ctx, nil)
	if err != nil {
		return nil, err
	}
	db, _, err := a.logStores(ctx)
	if err != nil {
		return nil, err
	}
	version := strconv.Itoa(t.version.Version)
	r := &monitoring.Runner{Model: a.cfg.ModelName, Version: version, Reference: t.ref, Log: db, Store: store, Logger: a.log}
	d, err := r.Window(ctx, w)
	if err != nil {
		return nil, err
	}
	return map[string]string{"report": monitoring.ReportPrefix(a.cfg.ModelName, w), "version": version,
		"rows": strconv.FormatInt(d.Rows, 10), "dataset_drift": strconv.FormatBool(d.DatasetDrift)}, nil
}
