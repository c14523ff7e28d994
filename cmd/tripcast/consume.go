package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/consume"
	"tripcast/httpapi"
	"tripcast/stream"
)

func newConsumeCmd(a *app) *cobra.Command {
	var (
		cfg         consume.Config
		listen      string
		batch       int
		follow      time.Duration
		parquetSync bool
	)
	cmd := &cobra.Command{
		Use:   "consume [--input ride_events] [--output ride_predictions] [--dead-letter ride_events_dlq] [--consumer NAME]",
		Short: "Predict the ride events of the stream, log and publish every prediction",
		Long: `Consume ride events from the stream setting (embedded NATS by default,
nats://host:4222 or kinesis://?region=...&endpoint=...) with the registry's
champion model, following alias moves.

Every prediction is written to the prediction log (the metadata database and
parquet files under predictions/ in the blob store) and published to the
output stream, keyed by ride_id; events that can never get a prediction go to
the dead-letter stream with their reason and field. An event is acknowledged
only after its prediction is committed to the database and published (or its
dead letter published), so a crash loses nothing and a redelivered event never
duplicates a prediction. Parquet files are written in the background (every
10,000 records or 10 s; --parquet-sync flushes them before each ack too).
Stops on Ctrl-C and prints its counts.

The embedded server opens no port unless --nats-listen is given (then other
processes, such as tripcast check, can reach it with --stream nats://ADDR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runConsume(cmd.Context(), cfg, streamOptions{natsListen: listen, batch: batch}, follow, parquetSync)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Input, "input", tripcast.RideEventsStream, "stream of ride events")
	f.StringVar(&cfg.Output, "output", tripcast.PredictionsStream, "stream predictions are published to")
	f.StringVar(&cfg.DeadLetter, "dead-letter", tripcast.DeadLetterStream, "stream of events that got no prediction")
	f.StringVar(&cfg.Consumer, "consumer", consume.DefaultConsumer, "durable consumer name (processes sharing it share the work on NATS)")
	f.IntVar(&cfg.MaxDeliver, "max-deliver", consume.DefaultMaxDeliver, "deliveries of an event the model fails on before it is dead-lettered")
	f.IntVar(&cfg.Workers, "workers", 1, "concurrent batch handlers (NATS)")
	f.DurationVar(&cfg.ScanWindow, "scan-window", 2*time.Minute, "how far back the output stream is read for a prediction an earlier attempt logged (older ones not found there are published again)")
	f.IntVar(&batch, "batch", 0, "largest batch per handler call on NATS (0: the engine's default, 1000)")
	f.StringVar(&listen, "nats-listen", "", "embedded stream: also accept NATS clients on this address, e.g. 127.0.0.1:4222")
	f.DurationVar(&follow, "follow", 5*time.Second, "how often the champion alias is checked for a new version")
	f.BoolVar(&parquetSync, "parquet-sync", false, "also flush the parquet prediction log before each ack (one file per batch); by default only the SQL log is flushed and parquet files are written every 10,000 records or 10 s")
	return cmd
}

// runConsume wires the consumer: stream, champion model, prediction logs.
func (a *app) runConsume(ctx context.Context, cfg consume.Config, so streamOptions, follow time.Duration, parquetSync bool) error {
	s, err := a.serving(ctx)
	if err != nil {
		return err
	}
	st, err := a.openStream(ctx, so)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.follow(ctx, a, follow)
	if err := s.compactLog(ctx, a); err != nil {
		return err
	}
	if err := s.monitorLog(ctx, a); err != nil {
		return err
	}
	cfg.Registerer, cfg.Logger = s.reg, a.log
	if cfg.Source == "" {
		cfg.Source = streamSource(st)
	}
	c, err := consume.New(cfg, st, s.pred, s.streamLog(parquetSync))
	if err != nil {
		return err
	}
	runErr := c.Run(ctx)
	stats := c.Stats()
	fmt.Fprintf(a.out, "received %d, predicted %d, dead-lettered %d, redelivered %d, failed batches %d\n",
		stats.Received, stats.Predicted, stats.DeadLettered, stats.Redelivered, stats.Failures)
	return runErr
}

// streamSource is the prediction source of the events of st: the wiring
// knows the engine, package consume does not.
func streamSource(st tripcast.Stream) string {
	if _, ok := st.(*stream.Kinesis); ok {
		return tripcast.SourceKinesis
	}
	return tripcast.SourceNATS
}

// streamChecks are the readiness checks of a process that consumes st with
// c: the stream engine's health (a JetStream store that cannot write, a
// Kinesis endpoint that does not answer) and the consumer's (a batch that
// has failed for StallAfter). Both degrade readiness: the HTTP API still
// answers.
func streamChecks(st tripcast.Stream, c *consume.Consumer) []httpapi.Check {
	checks := []httpapi.Check{{Name: "consumer", Check: func(context.Context) error { return c.Healthy() }}}
	if h, ok := st.(interface{ Healthy(context.Context) error }); ok {
		checks = append(checks, httpapi.Check{Name: "stream", Check: h.Healthy})
	}
	return checks
}
