// Command kill9 checks tripcast's stream accounting under crashes: it
// publishes N real ride events to an embedded NATS server (in this process,
// listening on a random 127.0.0.1 port), runs the stream consumer (package
// consume, with the SQL prediction log in SQLite) as a separate OS process,
// kills that process with SIGKILL several times while events flow,
// restarting it each time, and then checks that the prediction log and the
// output stream hold exactly one prediction per event: none lost, none
// duplicated.
//
// Usage (from the repository root):
//
//	go run ./bench/kill9                       # 100,000 events, 3 kills
//	go run ./bench/kill9 -events 20000 -kills 5
//
// It exits non-zero when the check fails. Without -model it trains a small
// gbdt (10 rounds) on green 2021-01 first.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tripcast"
	"tripcast/consume"
	"tripcast/model"
	"tripcast/serve"
	"tripcast/sqlstore"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/train"
)

const (
	input, output, deadLetter = "ride_events", "ride_predictions", "ride_events_dlq"
	consumerName              = "predict"
)

func main() {
	var (
		events  = flag.Int("events", 100000, "events to publish")
		kills   = flag.Int("kills", 3, "times the consumer is killed with SIGKILL")
		tlcFile = flag.String("tlc", "../shared/data/tlc/green_tripdata_2021-01.parquet", "TLC month: rides to replay, and training data")
		batch   = flag.Int("batch", 500, "consumer batch size")
		// Child mode (run by the parent).
		child     = flag.Bool("child", false, "run as the consumer process (internal)")
		natsURL   = flag.String("nats", "", "child: NATS URL")
		dbURL     = flag.String("db", "", "child: metadata database URL")
		modelFile = flag.String("model", "", "child: model file")
	)
	flag.Parse()
	var err error
	if *child {
		err = runChild(*natsURL, *dbURL, *modelFile, *batch)
	} else {
		err = run(*events, *kills, *batch, *tlcFile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kill9:", err)
		os.Exit(1)
	}
}

// runChild is the consumer process: it consumes until SIGTERM (then prints
// its counts as JSON) or SIGKILL.
func runChild(natsURL, dbURL, modelFile string, batch int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	art, err := model.LoadFile(modelFile)
	if err != nil {
		return err
	}
	art.SetIdentity(tripcast.DefaultModelName, "1")
	// AckWait 5 s: what a killed process held comes back after 5 s.
	s, err := stream.OpenNATS(ctx, natsURL, stream.NATSOptions{Logger: log, BatchSize: batch, AckWait: 5 * time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	db, err := sqlstore.Open(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	p := serve.New(serve.Options{Logger: log})
	p.Swap(art)
	c, err := consume.New(consume.Config{Input: input, Output: output, DeadLetter: deadLetter, Consumer: consumerName, Logger: log},
		s, p, db.PredictionLog())
	if err != nil {
		return err
	}
	err = c.Run(ctx)
	_ = json.NewEncoder(os.Stdout).Encode(c.Stats())
	return err
}

func run(n, kills, batch int, tlcFile string) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	trips, _, err := tlc.LoadFile(tlcFile, tlc.RuleCourse)
	if err != nil {
		return err
	}
	res, err := train.Fit(ctx, trips, nil, train.Options{Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kill9")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	modelFile := filepath.Join(dir, "model.json")
	if err := res.Artifact.SaveFile(modelFile); err != nil {
		return err
	}
	srv, err := stream.StartEmbedded(filepath.Join(dir, "nats"), "127.0.0.1:0", log)
	if err != nil {
		return err
	}
	defer srv.Close()
	s, err := stream.OpenNATS(ctx, "", stream.NATSOptions{Server: srv, Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()
	dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "tripcast.db"))
	db, err := sqlstore.Open(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, name := range []string{input, output, deadLetter} {
		if err := s.EnsureStream(ctx, name); err != nil {
			return err
		}
	}

	// The output stream, read as it fills.
	var (
		mu      sync.Mutex
		outSeen = map[string]int{}
		outMsgs int
	)
	sinkCtx, stopSink := context.WithCancel(ctx)
	defer stopSink()
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		_ = s.Consume(sinkCtx, output, "kill9_sink", func(_ context.Context, b []tripcast.Message) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range b {
				p, err := serve.ParsePrediction(m.Data)
				if err != nil {
					return err
				}
				outSeen[p.RideID]++
				outMsgs++
			}
			return nil
		})
	}()

	// Publish every event first (valid real rides only), in a goroutine, so
	// the consumer is killed while events are still arriving too.
	want := map[string]bool{}
	evs := make([]tripcast.Message, 0, n)
	for i, j := 0, 0; len(evs) < n; j++ {
		k := j % trips.Len()
		id := "k9-" + strconv.Itoa(i)
		ev := fmt.Appendf(nil, `{"ride_id": %q, "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %v}}`,
			id, trips.PULocationID[k], trips.DOLocationID[k], trips.TripDistance[k])
		if _, err := serve.DecodeEvent(ev); err != nil {
			continue // a few real rides are invalid (over 500 miles)
		}
		evs = append(evs, tripcast.Message{Key: id, Data: ev})
		want[id] = true
		i++
	}
	pubErr := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := 0; i < n; i += 1000 {
			if err := s.PublishBatch(ctx, input, evs[i:min(i+1000, n)]); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(2 * time.Millisecond) // spread the events over the kills
		}
		pubErr <- nil
	}()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	startChild := func() (*exec.Cmd, *os.File, error) {
		out, err := os.CreateTemp(dir, "child-*.json")
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(exe, "-child", "-nats", srv.ClientURL(), "-db", dbURL, "-model", modelFile, "-batch", strconv.Itoa(batch))
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		return cmd, out, cmd.Start()
	}
	count := func() int64 {
		c, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
		if err != nil {
			return -1
		}
		return c
	}
	waitUntil := func(what string, cond func() bool) error {
		deadline := time.Now().Add(5 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}

	var killedAt []int64
	for k := 1; k <= kills; k++ {
		cmd, _, err := startChild()
		if err != nil {
			return err
		}
		target := int64(n) * int64(k) / int64(kills+1)
		if err := waitUntil(fmt.Sprintf("%d logged predictions", target), func() bool { return count() >= target }); err != nil {
			_ = cmd.Process.Kill()
			return err
		}
		// A random moment within the next batches: before, during or after
		// a log write, a publish or an ack.
		time.Sleep(time.Duration(rand.Int64N(int64(30 * time.Millisecond))))
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			return err
		}
		_ = cmd.Wait()
		killedAt = append(killedAt, count())
	}
	cmd, out, err := startChild()
	if err != nil {
		return err
	}
	if err := <-pubErr; err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("publish: %w", err)
	}
	published := time.Since(start)
	err = waitUntil("every prediction and output message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count() >= int64(n) && len(outSeen) >= n
	})
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // a duplicated output would be in by now
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	stopSink()
	<-sinkDone
	if err != nil {
		return fmt.Errorf("%w (SQL log %d rows)", err, count())
	}
	var last consume.Stats
	if b, err := os.ReadFile(out.Name()); err == nil {
		_ = json.Unmarshal(b, &last)
	}

	// Every logged ride, read back: distinct, and exactly the published set.
	logged := map[string]int{}
	rows := 0
	for after := int64(0); ; {
		ps, err := db.ReadPredictionsAfter(ctx, after, 10000)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			logged[p.RideID]++
			rows++
			after = p.ID
		}
	}
	lost, extra := 0, 0
	for id := range want {
		if logged[id] == 0 {
			lost++
		}
	}
	for id := range logged {
		if !want[id] {
			extra++
		}
	}
	outDup := 0
	for _, c := range outSeen {
		if c > 1 {
			outDup += c - 1
		}
	}
	fmt.Printf("kill9: %d events published in %v; consumer process killed with SIGKILL %d times, at %v logged predictions, restarted each time\n",
		n, published.Round(time.Millisecond), kills, killedAt)
	fmt.Printf("  all predicted after %v\n", elapsed.Round(time.Millisecond))
	fmt.Printf("  SQL prediction log: %d rows, %d distinct rides; lost %d, duplicated %d, unexpected %d\n", rows, len(logged), lost, rows-len(logged), extra)
	fmt.Printf("  output stream:      %d messages, %d distinct rides; duplicated %d\n", outMsgs, len(outSeen), outDup)
	fmt.Printf("  last consumer run:  received %d, predicted %d, redelivered %d (batches handled again after the kill)\n",
		last.Received, last.Predicted, last.Redelivered)
	if rows != n || len(logged) != n || lost != 0 || extra != 0 || outMsgs != n || len(outSeen) != n {
		fmt.Println("FAIL")
		return fmt.Errorf("accounting failed")
	}
	fmt.Println("OK: exactly one prediction per event, none lost, none duplicated")
	return nil
}
