package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/groundtruth"
)

func newTruthCmd(a *app) *cobra.Command {
	var (
		cfg    groundtruth.Config
		listen string
		batch  int
	)
	cmd := &cobra.Command{
		Use:   "truth [--input ride_completed] [--dead-letter ride_events_dlq] [--consumer NAME]",
		Short: "Consume ride_completed events (ground truth) into the metadata database",
		Long: `Consume the ride_completed events of the stream setting (embedded NATS by
default, nats://host:4222 or kinesis://?region=...&endpoint=...) and store each
ride's real duration in the metadata database, where monitoring joins it to
the logged predictions of the ride (every model version's) by ride_id.

  {"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}

A ride's first completion is stored; later ones (redelivered or sent twice)
are counted as duplicates. A completion of a ride with no logged prediction
is stored all the same and counted as unmatched (it joins a prediction
logged later). An event that is not a valid completion goes to the
dead-letter stream with its reason. tripcast up runs this consumer in
process; run tripcast truth beside tripcast consume on external engines.
Stops on Ctrl-C and prints its counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStream(cmd.Context(), streamOptions{natsListen: listen, batch: batch})
			if err != nil {
				return err
			}
			c, err := a.truthConsumer(cmd.Context(), cfg, st, nil)
			if err != nil {
				return err
			}
			runErr := c.Run(cmd.Context())
			printTruth(a, c.Stats())
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Input, "input", tripcast.RideCompletedStream, "stream of ride_completed events")
	f.StringVar(&cfg.DeadLetter, "dead-letter", tripcast.DeadLetterStream, "stream of events that are not valid completions")
	f.StringVar(&cfg.Consumer, "consumer", groundtruth.DefaultConsumer, "durable consumer name (processes sharing it share the work on NATS)")
	f.IntVar(&batch, "batch", 0, "largest batch per handler call on NATS (0: the engine's default, 1000)")
	f.StringVar(&listen, "nats-listen", "", "embedded stream: also accept NATS clients on this address, e.g. 127.0.0.1:4222")
	return cmd
}

// truthConsumer returns the ground-truth consumer of st, storing into the
// metadata database, its metrics in reg (nil: none).
func (a *app) truthConsumer(ctx context.Context, cfg groundtruth.Config, st tripcast.Stream, reg prometheus.Registerer) (*groundtruth.Consumer, error) {
	db, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Logger, cfg.Registerer, cfg.Source = a.log, reg, streamSource(st)
	return groundtruth.New(cfg, st, db)
}

// startTruth runs the ground-truth consumer of st in the background until
// ctx ends (tripcast up). wait waits for it to stop, after ctx ended, and
// returns its counts. A consumer that fails is logged; serving goes on.
func (a *app) startTruth(ctx context.Context, st tripcast.Stream, reg prometheus.Registerer) (wait func() groundtruth.Stats, err error) {
	c, err := a.truthConsumer(ctx, groundtruth.Config{}, st, reg)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			a.log.Error("ground truth consumer stopped", "err", err)
		}
	}()
	return func() groundtruth.Stats {
		<-done
		return c.Stats()
	}, nil
}

// printTruth prints a ground-truth consumer's counts.
func printTruth(a *app, s groundtruth.Stats) {
	fmt.Fprintf(a.out, "ground truth: received %d, stored %d, duplicates %d, unmatched %d, dead-lettered %d\n",
		s.Received, s.Stored, s.Duplicates, s.Unmatched, s.DeadLettered)
}
