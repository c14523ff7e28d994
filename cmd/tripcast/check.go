package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/config"
	"tripcast/serve"
)

// checkConsumer is the durable consumer tripcast check reads the output
// stream with: it resumes where the previous check stopped.
const checkConsumer = "tripcast_check"

// checkStep is one step of a check report.
type checkStep struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Millis float64 `json:"ms"` // since the event was published
	Detail string  `json:"detail"`
}

// checkReport is what tripcast check prints.
type checkReport struct {
	Pass       bool        `json:"pass"`
	RideID     string      `json:"ride_id"`
	Stream     string      `json:"stream"`
	Model      string      `json:"model,omitempty"`
	Version    string      `json:"version,omitempty"`
	Prediction *float64    `json:"prediction,omitempty"` // minutes
	Steps      []checkStep `json:"steps"`
}

func newCheckCmd(a *app) *cobra.Command {
	var (
		input, output string
		timeout       time.Duration
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "check [--timeout 10s] [--json]",
		Short: "Send one ride event and check that its prediction is published and logged",
		Long: `End-to-end check of a running consumer (tripcast consume or tripcast up):
publish one ride event (the course's example ride) to the input stream, wait
for its prediction on the output stream and in the prediction log (metadata
database), and print a pass/fail report. Exits non-zero on failure.

The stream setting must reach the consumer's stream: an embedded stream lives
inside the consumer's process, so start it with --nats-listen ADDR and run
check with --stream nats://ADDR (nats://tripcast:PASSWORD@ADDR when the
listener requires credentials: always beyond loopback, see nats_password).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return tripcast.FieldError("timeout", "must be positive, got %v", timeout)
			}
			rep, err := a.check(cmd.Context(), input, output, timeout)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printCheck(a, rep)
			}
			if !rep.Pass {
				return &exitError{code: 1, err: errors.New("check failed")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", tripcast.RideEventsStream, "stream the consumer reads ride events from")
	f.StringVar(&output, "output", tripcast.PredictionsStream, "stream the consumer publishes predictions to")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the prediction")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// printCheck prints rep for people.
func printCheck(a *app, rep *checkReport) {
	verdict := "PASS"
	if !rep.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(a.out, "tripcast check: %s (ride %s, stream %s)\n", verdict, rep.RideID, rep.Stream)
	for _, s := range rep.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(a.out, "  %-8s %s %8.1f ms  %s\n", s.Name, mark, s.Millis, s.Detail)
	}
}

// checkEvent is the course's example ride, under rideID.
func checkEvent(rideID string) []byte {
	b := []byte(`{"ride_id": `)
	b = serve.AppendString(b, rideID)
	return append(b, `, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`...)
}

// check publishes one ride and follows it through the consumer. An error
// means the check could not run (bad settings); a failed check is a report
// with Pass false.
func (a *app) check(ctx context.Context, input, output string, timeout time.Duration) (*checkReport, error) {
	if a.cfg.Stream == "embedded" {
		return nil, tripcast.FieldError("stream", "the embedded stream lives inside the consumer's process: start tripcast consume (or up) with --nats-listen 127.0.0.1:4222 and run check with --stream nats://127.0.0.1:4222")
	}
	s, err := a.stream(ctx)
	if err != nil {
		return nil, err
	}
	db, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{input, output} {
		if err := s.EnsureStream(ctx, name); err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", name, err)
		}
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	rideID := "check-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
	rep := &checkReport{RideID: rideID, Stream: config.Mask(a.cfg.Stream)}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Read the output stream first, so the answer cannot be missed.
	found := make(chan tripcast.Prediction, 1)
	consumeErr := make(chan error, 1)
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		consumeErr <- s.Consume(cctx, output, checkConsumer, func(_ context.Context, batch []tripcast.Message) error {
			for _, m := range batch {
				if !bytes.Contains(m.Data, []byte(rideID)) {
					continue
				}
				if p, err := serve.ParsePrediction(m.Data); err == nil && p.RideID == rideID {
					select {
					case found <- p:
					default:
					}
				}
			}
			return nil
		})
	}()
	defer func() {
		stop()
		wg.Wait()
	}()

	start := time.Now()
	ms := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	if err := s.Publish(ctx, input, rideID, checkEvent(rideID)); err != nil {
		rep.Steps = append(rep.Steps, checkStep{Name: "publish", Millis: ms(), Detail: err.Error()})
		return rep, nil
	}
	rep.Steps = append(rep.Steps, checkStep{Name: "publish", OK: true, Millis: ms(),
		Detail: fmt.Sprintf("ride %s published to %s", rideID, input)})

	select {
	case p := <-found:
		d := p.RideDuration
		rep.Model, rep.Version, rep.Prediction = p.Model, p.Version, &d
		rep.Steps = append(rep.Steps, checkStep{Name: "output", OK: true, Millis: ms(),
			Detail: fmt.Sprintf("ride_duration %.2f min by %s version %s on %s", d, p.Model, p.Version, output)})
	case err := <-consumeErr:
		rep.Steps = append(rep.Steps, checkStep{Name: "output", Millis: ms(), Detail: fmt.Sprintf("read %s: %v", output, err)})
		return rep, nil
	case <-ctx.Done():
		rep.Steps = append(rep.Steps, checkStep{Name: "output", Millis: ms(),
			Detail: fmt.Sprintf("no prediction on %s within %v: is a consumer running on this stream with a champion model?", output, timeout)})
		return rep, nil
	}

	for {
		recs, err := db.GetPredictions(ctx, rideID)
		if err == nil && len(recs) > 0 {
			r := recs[0]
			rep.Steps = append(rep.Steps, checkStep{Name: "log", OK: true, Millis: ms(),
				Detail: fmt.Sprintf("logged: version %s, %.2f min, source %s, latency %v", r.Version, r.Prediction, r.Source, r.Latency)})
			rep.Pass = r.Version == rep.Version && r.Prediction == *rep.Prediction
			if !rep.Pass {
				rep.Steps[len(rep.Steps)-1].OK = false
				rep.Steps[len(rep.Steps)-1].Detail += fmt.Sprintf(" (the output said version %s, %.2f min)", rep.Version, *rep.Prediction)
			}
			return rep, nil
		}
		select {
		case <-ctx.Done():
			detail := fmt.Sprintf("not in the prediction log (%s) within %v", config.Mask(a.cfg.DB), timeout)
			if err != nil {
				detail += ": " + err.Error()
			}
			rep.Steps = append(rep.Steps, checkStep{Name: "log", Millis: ms(), Detail: detail})
			return rep, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}
