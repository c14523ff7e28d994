package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/consume"
	"tripcast/dataset"
	"tripcast/internal/sample"
	"tripcast/tlc"
	"tripcast/train"
)

func newUpCmd(a *app) *cobra.Command {
	var (
		from, months, params []string
		color, baseURL, rule string
		natsListen           string
		follow               time.Duration
		pf                   pipelineFlags
	)
	cmd := &cobra.Command{
		Use:   "up [--from FILE...] [--month YYYY-MM...]",
		Short: "Run everything in one process: HTTP API, embedded stream, consumer, prediction log",
		Long: `Run tripcast in one process on the configured engines (embedded defaults:
SQLite, a local folder, NATS JetStream inside the process):

  - the HTTP API on --listen (default 127.0.0.1:8080), see tripcast serve;
  - the stream consumer predicting ride_events into ride_predictions, see
    tripcast consume;
  - every prediction in the prediction log;
  - the ground-truth consumer storing ride_completed events, see tripcast
    truth;
  - the champion alias followed: promote a version and it is served;
  - pipeline workers and schedules (see tripcast pipeline; --no-pipelines
    turns them off).

With an empty registry it bootstraps first: it ingests the TLC files given by
--from or downloads the months given by --month (as tripcast ingest does), or,
with neither, the sample of real TLC data built into the binary (every second
row of green 2021-01 and 2021-02: no network needed). The first month trains,
the second validates (with one, a 10 % holdout validates). It trains
gradient-boosted trees, registers the model and makes it champion. Then it
serves.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			start := time.Now()
			r, err := tlc.ParseRule(rule)
			if err != nil {
				return err
			}
			kv, err := parseParams(params)
			if err != nil {
				return err
			}
			s, err := a.serving(ctx)
			if err != nil {
				return err
			}
			if err := a.bootstrap(ctx, from, months, color, baseURL, r, kv); err != nil {
				return err
			}
			s.follow(ctx, a, follow)
			if err := s.compactLog(ctx, a); err != nil {
				return err
			}
			if err := s.monitorLog(ctx, a); err != nil {
				return err
			}

			st, err := a.openStream(ctx, streamOptions{natsListen: natsListen})
			if err != nil {
				return err
			}
			c, err := consume.New(consume.Config{Registerer: s.reg, Logger: a.log, Source: streamSource(st)}, st, s.pred, s.streamLog(false))
			if err != nil {
				return err
			}
			if !pf.off {
				pf.baseURL = baseURL
				if _, err := a.pipelines(ctx, &pf); err != nil {
					return err
				}
			}
			s.checks = append(s.checks, streamChecks(st, c)...)
			_, httpErr, err := s.httpServer(ctx, a)
			if err != nil {
				return err
			}
			consumeErr := make(chan error, 1)
			go func() { consumeErr <- c.Run(ctx) }()
			if err := waitHTTP(ctx, "http://"+a.cfg.Listen+"/healthz", httpErr); err != nil {
				return err
			}
			truth, err := a.startTruth(ctx, st, s.reg)
			if err != nil {
				return err
			}
			// Bootstrapping and decoding the model's JSON leave a large,
			// now idle heap: hand it back so that an idle tripcast stays
			// small.
			debug.FreeOSMemory()
			version := ""
			if snap := s.pred.Snapshot(); snap != nil {
				version = snap.Model.Version()
			}
			a.log.Info("tripcast is up", "http", "http://"+a.cfg.Listen, "stream", a.cfg.Stream, "nats_listen", natsListen,
				"model", a.cfg.ModelName, "version", version, "startup_seconds", round4(time.Since(start).Seconds()))
			select {
			case err = <-httpErr:
				cancel()
				<-consumeErr
			case err = <-consumeErr:
				cancel()
				<-httpErr
			case <-ctx.Done():
				err = errors.Join(<-consumeErr, <-httpErr)
			}
			st2 := c.Stats()
			fmt.Fprintf(a.out, "stream: received %d, predicted %d, dead-lettered %d\n", st2.Received, st2.Predicted, st2.DeadLettered)
			cancel()
			printTruth(a, truth())
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&from, "from", nil, "TLC parquet files to bootstrap from when the registry has no champion")
	f.StringArrayVar(&months, "month", nil, "months to download and bootstrap from when the registry has no champion (instead of --from)")
	f.StringVar(&color, "color", "green", "taxi color of --month")
	f.StringVar(&baseURL, "base-url", tlc.DefaultBaseURL, "TLC trip-data site for --month")
	f.StringVar(&rule, "rule", "default", "cleaning rule of the bootstrap data: course or default")
	f.StringArrayVar(&params, "param", nil, "gbdt parameter key=value for the bootstrap model (repeatable)")
	f.StringVar(&natsListen, "nats-listen", "", "embedded stream: also accept NATS clients on this address, e.g. 127.0.0.1:4222")
	f.DurationVar(&follow, "follow-every", defaultFollow, "how often to check the champion alias")
	pf.register(f)
	return cmd
}

// bootstrap trains and promotes a first model when the registry has no
// champion; it does nothing when there is one. The data goes through the
// same path as tripcast ingest: the --from files, the --month downloads, or,
// with neither, the TLC sample built into the binary.
func (a *app) bootstrap(ctx context.Context, from, months []string, color, baseURL string, rule tlc.Rule, params map[string]string) error {
	tr, err := a.tracker(ctx, true)
	if err != nil {
		return err
	}
	champ, err := tr.CurrentAlias(ctx, a.cfg.ModelName, tripcast.ChampionAlias)
	if err != nil {
		return err
	}
	if champ != 0 {
		a.log.Info("registry has a champion: no bootstrap", "model", a.cfg.ModelName, "version", champ)
		return nil
	}
	files, err := parquetFiles(from)
	if err != nil {
		return err
	}
	store, err := a.blobStore(ctx)
	if err != nil {
		return err
	}
	in := &ingester{a: a, store: store, rule: rule}
	var data []*dataset.Data
	if len(files) == 0 && len(months) == 0 {
		a.log.Info("the registry is empty and neither --from nor --month is given: bootstrapping from the built-in sample (real TLC data shipped in the binary: every second row of "+
			sample.Color+" "+strings.Join(sample.Months, " and ")+"); give --from or --month to train on whole months",
			"color", sample.Color, "months", sample.Months)
		if data, err = in.sample(ctx); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	} else {
		a.log.Info("bootstrapping a first model", "files", files, "months", months)
	}
	for _, f := range files {
		if d := in.file(ctx, f, dataset.IngestOptions{Rule: rule}); d != nil {
			data = append(data, d)
		}
	}
	if len(months) > 0 {
		ds, err := in.download(ctx, color, months, baseURL)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		data = append(data, ds...)
	}
	if len(in.errs) > 0 {
		return fmt.Errorf("bootstrap: %w", errors.Join(in.errs...))
	}
	out, err := train.Bootstrap(ctx, tr, train.BootstrapOptions{
		Data: data, ModelName: a.cfg.ModelName, Params: params, Actor: actor(),
	})
	if err != nil {
		return err
	}
	a.log.Info("bootstrap model is champion", "version", out.Version.Version, "valid_rmse", round4(out.Valid.RMSE),
		"rounds", out.Rounds, "train_seconds", round4(out.Seconds))
	return nil
}

// waitHTTP waits until url answers, the server fails, or ctx ends. An
// ended ctx is no error: it is a shutdown, which the caller goes on to.
func waitHTTP(ctx context.Context, url string, errc <-chan error) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}
