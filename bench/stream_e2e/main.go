// Command stream_e2e measures tripcast's stream serving end to end through
// embedded NATS JetStream, in one process, with the real code: a producer
// publishes real TLC rides to ride_events, the consume package predicts
// them with a real gbdt model, logs every prediction (SQL flushed before
// the ack, parquet buffered) and publishes it to ride_predictions. It
// prints events/s (all events, from the first publish to the last
// prediction published) and the latency per event, from its publish to its
// prediction stored in ride_predictions (JetStream's timestamp of the
// prediction), at p50/p90/p99/max; and from its storing in ride_events
// (JetStream's timestamp of the event: when it was published, as the stream
// records it; the producer sends each open-loop tick's rides as one batch,
// so the first figure also counts the rides ahead of each in its batch).
// The predictions are read after the run (-sink after, the default): a
// downstream reader is not part of the pipeline; -sink live reads them
// during the run instead, as a downstream service would, and then measures
// up to the prediction read.
//
// Usage (from the repository root):
//
//	go run ./bench/stream_e2e -events 200000              # as fast as possible
//	go run ./bench/stream_e2e -events 200000 -rate 50000  # open loop at 50,000 events/s
//	go run ./bench/stream_e2e -db postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// Without -model it trains a small gbdt (10 rounds) on green 2021-01 first.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/consume"
	"tripcast/model"
	"tripcast/predlog"
	"tripcast/serve"
	"tripcast/sqlstore"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/train"
)

func main() {
	var (
		events    = flag.Int("events", 200000, "events to publish")
		rate      = flag.Int("rate", 0, "events/s to publish at (open loop); 0: as fast as possible")
		batch     = flag.Int("batch", 1000, "largest batch a consumer handles")
		pubBatch  = flag.Int("pub-batch", 1000, "events per producer PublishBatch (at most)")
		workers   = flag.Int("workers", 1, "consumer handler loops")
		dbURL     = flag.String("db", "", "metadata database URL (default: SQLite in a temp dir)")
		noParquet = flag.Bool("no-parquet", false, "log to SQL only (no parquet files)")
		pqSync    = flag.Bool("parquet-sync", false, "flush the parquet log before each ack too (default: SQL flushed, parquet buffered)")
		modelFile = flag.String("model", "", "model file (default: train one on -tlc)")
		tlcFile   = flag.String("tlc", "../shared/data/tlc/green_tripdata_2021-01.parquet", "TLC month: rides to replay, and training data")
		verbose   = flag.Bool("v", false, "log warnings")
		cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
		memprof   = flag.String("memprofile", "", "write an allocation profile of the whole process to this file at the end")
		sink      = flag.String("sink", "after", "read the predictions after the run (after) or during it (live)")
	)
	flag.Parse()
	if *memprof != "" {
		defer writeHeapProfile(*memprof)
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stream_e2e:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *sink != "after" && *sink != "live" {
		fmt.Fprintln(os.Stderr, "stream_e2e: -sink must be after or live")
		os.Exit(2)
	}
	if err := run(*events, *rate, *batch, *pubBatch, *workers, *dbURL, *noParquet, *pqSync, *modelFile, *tlcFile, *verbose, *sink == "live"); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "stream_e2e:", err)
		os.Exit(1)
	}
}

// printWindows prints, for each window of w events in publishing order (10
// s of an open-loop run), the p50/p99/max of their latencies d and the
// process's CPU time per event while they were published (cpu[k]: the CPU
// time when window k began): whether a long run degrades, and why.
func printWindows(d []time.Duration, w int, cpu []time.Duration) {
	fmt.Println("  per 10 s (stored → stored):")
	for i := 0; i < len(d); i += w {
		win := slices.Clone(d[i:min(i+w, len(d))])
		slices.Sort(win)
		perEvent := ""
		if k := i / w; k+1 < len(cpu) {
			perEvent = fmt.Sprintf("  %.1f CPU-µs/event", float64((cpu[k+1]-cpu[k]).Microseconds())/float64(len(win)))
		}
		fmt.Printf("    %3d s: p50 %v  p99 %v  max %v%s\n", i/w*10, win[len(win)/2].Round(10*time.Microsecond),
			win[len(win)*99/100].Round(10*time.Microsecond), win[len(win)-1].Round(10*time.Microsecond), perEvent)
	}
}

// appendEvent appends event i's JSON, up to its publish time's value, for
// trip k: the course's nested ride event.
func appendEvent(b []byte, x string, i int, trips *tripcast.Trips, k int) []byte {
	return fmt.Appendf(b, `{"ride_id": "%s-%d", "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %v}, "published_at_ns": `,
		x, i, trips.PULocationID[k], trips.DOLocationID[k], trips.TripDistance[k])
}

// writeHeapProfile writes the process's heap profile (allocations since the
// start, and what is live) to path.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stream_e2e: memprofile:", err)
	}
}

func run(n, rate, batch, pubBatch, workers int, dbURL string, noParquet, pqSync bool, modelFile, tlcFile string, verbose, live bool) error {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	trips, _, err := tlc.LoadFile(tlcFile, tlc.RuleCourse)
	if err != nil {
		return err
	}
	var art *model.Artifact
	if modelFile != "" {
		if art, err = model.LoadFile(modelFile); err != nil {
			return err
		}
	} else {
		t0 := time.Now()
		res, err := train.Fit(ctx, trips, nil, train.Options{Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
		if err != nil {
			return err
		}
		art = res.Artifact
		fmt.Printf("trained a 10-round gbdt on %d trips in %v\n", trips.Len(), time.Since(t0).Round(time.Millisecond))
	}
	art.SetIdentity(tripcast.DefaultModelName, "1")

	dir, err := os.MkdirTemp("", "stream_e2e")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := stream.OpenEmbedded(ctx, filepath.Join(dir, "nats"), "", stream.NATSOptions{Logger: log, BatchSize: batch})
	if err != nil {
		return err
	}
	defer s.Close()
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "tripcast.db"))
	}
	db, err := sqlstore.Open(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	var plog tripcast.PredictionLog = db.PredictionLog()
	var parquet *predlog.Writer
	if !noParquet {
		blobs, err := blob.NewFile(filepath.Join(dir, "blobs"))
		if err != nil {
			return err
		}
		parquet = predlog.New(blobs, predlog.Options{Logger: log})
		if pqSync {
			plog = predlog.Multi(plog, parquet)
		} else {
			plog = consume.Tee(plog, parquet)
		}
	}
	p := serve.New(serve.Options{Logger: log})
	p.Swap(art)
	// Unique stream names: a reused PostgreSQL database keeps old rides.
	x := strconv.FormatInt(time.Now().UnixNano(), 36)
	in, out := "ride_events", "ride_predictions"
	c, err := consume.New(consume.Config{Input: in, Output: out, DeadLetter: "ride_events_dlq", Workers: workers, Logger: log}, s, p, plog)
	if err != nil {
		return err
	}
	for _, name := range []string{in, out} {
		if err := s.EnsureStream(ctx, name); err != nil {
			return err
		}
	}

	// Events: real rides, each carrying its publish time (ignored by the
	// decoder); sentAt keeps it too, by index, for the sink. They are
	// encoded as they are sent, so a long run holds no copy of them.
	// Rides that fail validation (a few real ones do: over 500 miles) are
	// skipped, so every event gets a prediction.
	var rides []int
	for k := range trips.Len() {
		ev := appendEvent(nil, x, k, trips, k)
		if _, err := serve.DecodeEvent(append(ev, "0}"...)); err == nil {
			rides = append(rides, k)
		}
	}
	sentAt := make([]atomic.Int64, n)
	latencies := make([]time.Duration, n)
	outAt := make([]int64, n) // when ride_predictions stored each prediction (-sink after)
	var got atomic.Int64
	var last atomic.Int64
	allIn := make(chan struct{})

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := c.Run(runCtx); err != nil {
			fmt.Fprintln(os.Stderr, "consumer:", err)
		}
	}()
	prefix := len(x) + 1
	// index returns the event number of a ride id (x-i).
	index := func(id string) (int, error) {
		i, err := strconv.Atoi(id[min(prefix, len(id)):])
		if err != nil || i < 0 || i >= n {
			return 0, fmt.Errorf("unexpected ride %q", id)
		}
		return i, nil
	}
	// sinkHandler records each prediction's latency: to now (live) or to
	// when ride_predictions stored it.
	sinkHandler := func(_ context.Context, b []tripcast.Message) error {
		now := time.Now().UnixNano()
		for _, m := range b {
			pr, err := serve.ParsePrediction(m.Data)
			if err != nil {
				return err
			}
			i, err := index(pr.RideID)
			if err != nil {
				return err
			}
			at := now
			if !live {
				at = m.Stored.UnixNano()
				outAt[i] = at
			}
			latencies[i] = time.Duration(at - sentAt[i].Load())
		}
		if live {
			last.Store(now)
		}
		if got.Add(int64(len(b))) == int64(n) {
			close(allIn)
		}
		return nil
	}
	done := make(chan struct{}) // all predicted (and so published)
	go func() {
		defer wg.Done()
		if live {
			_ = s.Consume(runCtx, out, "sink", sinkHandler)
			return
		}
		for c.Stats().Predicted < int64(n) {
			if runCtx.Err() != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
		last.Store(time.Now().UnixNano())
		close(done)
	}()

	// Let the consumer start (it waits for nothing: the model is loaded).
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cpu0 := cpuTime()
	msgs := make([]tripcast.Message, 0, pubBatch)
	var arena []byte
	var tick time.Duration
	per := pubBatch
	if rate > 0 {
		tick = 5 * time.Millisecond
		per = max(1, rate*int(tick)/int(time.Second))
	}
	var windowCPU []time.Duration // CPU time as each 10 s window of events began
	for i := 0; i < n; {
		if rate > 0 && i >= len(windowCPU)*10*rate {
			windowCPU = append(windowCPU, cpuTime())
		}
		if rate > 0 {
			// Open loop: batch k is due at start + k*tick.
			due := start.Add(time.Duration(i/per) * tick)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		msgs = msgs[:0]
		arena = arena[:0]
		now := time.Now().UnixNano()
		end := min(i+per, n)
		ends := make([]int, 0, end-i)
		for j := i; j < end; j++ {
			sentAt[j].Store(now)
			arena = appendEvent(arena, x, j, trips, rides[j%len(rides)])
			arena = strconv.AppendInt(arena, now, 10)
			arena = append(arena, '}')
			ends = append(ends, len(arena))
		}
		off := 0
		for k, j := 0, i; j < end; k, j = k+1, j+1 {
			msgs = append(msgs, tripcast.Message{Key: strconv.Itoa(j), Data: arena[off:ends[k]:ends[k]]})
			off = ends[k]
		}
		if err := s.PublishBatch(ctx, in, msgs); err != nil {
			return err
		}
		i += len(msgs)
	}
	pubDone := time.Since(start)
	finished := allIn
	if !live {
		finished = done
	}
	select {
	case <-finished:
	case <-time.After(time.Minute):
		logged, _ := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
		missing := []int{}
		for i := range latencies {
			if latencies[i] == 0 && len(missing) < 10 {
				missing = append(missing, i)
			}
		}
		return fmt.Errorf("timed out: %d of %d predictions read (consumer %+v, SQL log %d rows, missing e.g. %v)", got.Load(), n, c.Stats(), logged, missing)
	}
	elapsed := time.Duration(last.Load() - start.UnixNano())
	cpuAtEnd := cpuTime()
	cpu := cpuAtEnd - cpu0
	if !live {
		// Now read the predictions, for their latencies.
		sinkCtx, stop := context.WithCancel(ctx)
		go func() { _ = s.Consume(sinkCtx, out, "sink", sinkHandler) }()
		select {
		case <-allIn:
		case <-time.After(time.Minute):
			stop()
			return fmt.Errorf("read %d of %d predictions after the run", got.Load(), n)
		}
		stop()
	}
	// And the events, for when ride_events stored each: the latency from
	// an event's publication, as the stream records it (the producer's
	// batch of rides is sent as one fast batch, so the publish clock above
	// also counts the rides ahead of each in its batch).
	var stored []time.Duration
	if !live {
		inAt := make([]int64, n)
		var seen atomic.Int64
		readIn := make(chan struct{})
		inCtx, stopIn := context.WithCancel(ctx)
		go func() {
			_ = s.Consume(inCtx, in, "sink_in", func(_ context.Context, b []tripcast.Message) error {
				for _, m := range b {
					r, err := serve.DecodeEvent(m.Data)
					if err != nil {
						return err
					}
					i, err := index(r.ID)
					if err != nil {
						return err
					}
					inAt[i] = m.Stored.UnixNano()
				}
				if seen.Add(int64(len(b))) == int64(n) {
					close(readIn)
				}
				return nil
			})
		}()
		select {
		case <-readIn:
		case <-time.After(time.Minute):
			stopIn()
			return fmt.Errorf("read %d of %d events after the run", seen.Load(), n)
		}
		stopIn()
		stored = make([]time.Duration, n)
		for i := range stored {
			stored[i] = time.Duration(outAt[i] - inAt[i])
		}
		if rate > 0 && n > 20*rate {
			printWindows(stored, 10*rate, append(windowCPU, cpuAtEnd))
		}
		slices.Sort(stored)
	}
	cancel()
	wg.Wait()
	if parquet != nil {
		if err := parquet.Close(); err != nil {
			return err
		}
	}
	logged, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
	if err != nil {
		return err
	}
	slices.Sort(latencies)
	st := c.Stats()
	mode := "as fast as possible"
	if rate > 0 {
		mode = fmt.Sprintf("open loop at %d events/s", rate)
	}
	logDesc := db.Engine() + " (flushed before ack)"
	if !noParquet && pqSync {
		logDesc += " + parquet (flushed before ack)"
	} else if !noParquet {
		logDesc += " + parquet (buffered)"
	}
	sinkDesc := "predictions read after the run"
	if live {
		sinkDesc = "predictions read during the run"
	}
	fmt.Printf("stream_e2e: %d events through embedded NATS, %s, consumer batch %d, workers %d, log %s, %s\n",
		n, mode, batch, workers, logDesc, sinkDesc)
	fmt.Printf("  published in %v (%.0f events/s)\n", pubDone.Round(time.Millisecond), float64(n)/pubDone.Seconds())
	fmt.Printf("  end to end:  %.0f events/s (%v for all), %.1f CPU-µs/event\n", float64(n)/elapsed.Seconds(), elapsed.Round(time.Millisecond),
		float64(cpu.Microseconds())/float64(n))
	to := "prediction stored in " + out
	if live {
		to = "prediction read"
	}
	fmt.Printf("  latency publish → %s: %s\n", to, percentiles(latencies))
	if stored != nil {
		fmt.Printf("  latency stored in %s → stored in %s: %s\n", in, out, percentiles(stored))
	}
	fmt.Printf("  consumer: received %d, predicted %d, dead-lettered %d, batches %d (%.0f events/batch); SQL log %d rows\n",
		st.Received, st.Predicted, st.DeadLettered, st.Batches, float64(st.Received)/float64(max(1, st.Batches)), logged)
	if logged != int64(n) {
		return fmt.Errorf("SQL log holds %d predictions, want %d", logged, n)
	}
	return nil
}

// percentiles formats p50, p90, p99 and the maximum of sorted durations.
func percentiles(d []time.Duration) string {
	pct := func(q float64) time.Duration {
		return d[min(len(d)-1, int(q*float64(len(d))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v", pct(0.50), pct(0.90), pct(0.99), d[len(d)-1].Round(10*time.Microsecond))
}

// cpuTime returns the process's user+system CPU time: the machine is
// shared, so CPU per event is reported beside the wall-clock rate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
