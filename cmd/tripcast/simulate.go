package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/sim"
	"tripcast/tlc"
)

func newSimulateCmd(a *app) *cobra.Command {
	var (
		input, target, idPrefix string
		maxEvents, start        int
		concurrency             int
		interval                time.Duration
		rate, timeScale         float64
		groundTruth, asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "simulate --input MONTH|FILE --target URL [--max-events N] [--interval 2s | --rate N]",
		Short: "Replay real TLC rides as ride events to the HTTP API or a stream",
		Long: `Replay the rides of a TLC month (cleaned with the course rule) in the course's
ride-event format, at a fixed interval or rate, to a target:

  http://host:port          POST /v1/predict of the HTTP API (a URL with a path is used as is)
  embedded                  the embedded stream of this data dir (not while tripcast up runs on it)
  nats://host:4222          a NATS server (tripcast up --nats-listen ADDR exposes its embedded one)
  kinesis://?region=...     Kinesis

With --ground-truth, each ride's real duration follows as a ride_completed
event on the stream ride_completed, after the ride's duration times
--time-scale. Ctrl-C stops and prints the summary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if input == "" || target == "" {
				return tripcast.FieldError("input", "simulate needs --input and --target")
			}
			store, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			in, err := a.resolveMonth(ctx, store, input, tlc.RuleCourse)
			if err != nil {
				return err
			}
			cfg := sim.Config{Trips: in.Trips, Rows: in.Rows, Month: in.Manifest.Month, IDPrefix: idPrefix, Start: start,
				MaxEvents: maxEvents, Interval: interval, Rate: rate, Concurrency: concurrency, TimeScale: timeScale, Logger: a.log}
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
				if groundTruth {
					return tripcast.FieldError("ground-truth", "ground truth goes to a stream: use a stream target")
				}
				if cfg.Target, err = sim.NewHTTP(target, nil); err != nil {
					return err
				}
			} else {
				a.cfg.Stream = target
				s, err := a.stream(ctx)
				if err != nil {
					return err
				}
				for _, name := range []string{tripcast.RideEventsStream, tripcast.RideCompletedStream} {
					if err := s.EnsureStream(ctx, name); err != nil {
						return err
					}
				}
				cfg.Target = sim.StreamTarget{Stream: s, Name: tripcast.RideEventsStream}
				if groundTruth {
					cfg.Completed = sim.StreamTarget{Stream: s, Name: tripcast.RideCompletedStream}
				}
			}
			sm, err := sim.New(cfg)
			if err != nil {
				return err
			}
			sum, err := sm.Run(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(a.out, sum)
			}
			fmt.Fprintf(a.out, "sent %d, failed %d, rate %.1f/s, latency p50 %v p99 %v", sum.Sent, sum.Failed, sum.Rate, sum.P50, sum.P99)
			if groundTruth {
				fmt.Fprintf(a.out, ", ground truth sent %d (failed %d, pending %d)", sum.Completed, sum.CompletedFailed, sum.CompletedPending)
			}
			fmt.Fprintln(a.out)
			if sum.Failed > 0 {
				return fmt.Errorf("%d of %d ride events failed", sum.Failed, sum.Sent+sum.Failed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "month (stored dataset) or TLC parquet file to replay")
	f.StringVar(&target, "target", "", "http://host:port, embedded, nats://host:port or kinesis://?...")
	f.IntVar(&maxEvents, "max-events", 100, "ride events to send (0: the whole month)")
	f.IntVar(&start, "start", 0, "index of the first ride to send")
	f.DurationVar(&interval, "interval", time.Second, "time between two ride events")
	f.Float64Var(&rate, "rate", 0, "ride events per second (instead of --interval)")
	f.IntVar(&concurrency, "concurrency", 1, "ride events in flight at once (one at a time reaches about 1/latency events per second)")
	f.StringVar(&idPrefix, "id-prefix", "", "ride_id prefix (default: YYYY/MM_ as the course)")
	f.BoolVar(&groundTruth, "ground-truth", false, "also send ride_completed events with the real durations")
	f.Float64Var(&timeScale, "time-scale", 1.0/60, "wait before a ride's ground truth = duration × this (1/60: a second per ride minute)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}
