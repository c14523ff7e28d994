package consume_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/consume"
	"tripcast/model"
	"tripcast/serve"
	"tripcast/sqlstore"
	"tripcast/stream"
)

// The kill -9 test: a consumer process is SIGKILLed while events flow, then
// restarted; every event must end up predicted exactly once.
const (
	childEnv   = "TRIPCAST_CONSUME_CHILD" // "natsURL|dbURL|modelFile|suffix|delay"
	killEvents = 5000
)

// slowLog delays every Flush, so the parent kills the child mid-stream
// rather than after it has finished.
type slowLog struct {
	tripcast.PredictionLog
	delay time.Duration
}

func (s slowLog) Flush(ctx context.Context) error {
	time.Sleep(s.delay)
	return s.PredictionLog.Flush(ctx)
}

func TestKill9(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("inside the child")
	}
	art, trips := realModel(t)
	dir := t.TempDir()
	modelFile := filepath.Join(dir, "model.json")
	if err := art.SaveFile(modelFile); err != nil {
		t.Fatal(err)
	}
	// The server lives in this process, on a port the child connects to.
	srv, err := stream.StartEmbedded(filepath.Join(dir, "nats"), "127.0.0.1:0", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s, err := stream.OpenNATS(context.Background(), "", stream.NATSOptions{Server: srv, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "tripcast.db"))
	db, err := sqlstore.Open(context.Background(), dbURL, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	x := suffix()
	in, out := "ride_events_"+x, "ride_predictions_"+x
	ctx := testCtx(t)
	for _, n := range []string{in, out, "ride_events_dlq_" + x} {
		if err := s.EnsureStream(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	outputs := collect(t, s, out)
	msgs := make([]tripcast.Message, killEvents)
	for i := range msgs {
		msgs[i] = tripcast.Message{Key: strconv.Itoa(i), Data: validEvent(trips, "k", i)}
	}
	if err := s.PublishBatch(ctx, in, msgs); err != nil {
		t.Fatal(err)
	}

	spec := fmt.Sprintf("%s|%s|%s|%s|%s", srv.ClientURL(), dbURL, modelFile, x, "5ms")
	startChild := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+spec)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	count := func() int64 {
		n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	child := startChild()
	waitFor(t, "the child to log a third of the predictions", func() bool { return count() >= killEvents/3 })
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = child.Wait()
	before := count()
	if before >= killEvents {
		t.Fatalf("the child logged all %d predictions before the kill; want a kill mid-stream", killEvents)
	}

	child = startChild()
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	waitFor(t, "every prediction", func() bool { return count() >= killEvents })
	waitFor(t, "every output message", func() bool { return outputs.len() >= killEvents })
	time.Sleep(300 * time.Millisecond) // a duplicate output would be in by now

	if got := count(); got != killEvents {
		t.Errorf("got %d predictions in the SQL log, want %d", got, killEvents)
	}
	seen := map[string]bool{}
	for _, m := range outputs.all() {
		p, err := serve.ParsePrediction(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		seen[p.RideID] = true
	}
	if len(seen) != killEvents || outputs.len() != killEvents {
		t.Errorf("got %d output messages for %d rides, want %d for %d", outputs.len(), len(seen), killEvents, killEvents)
	}
	t.Logf("killed after %d predictions; after the restart: %d predictions, %d output messages", before, count(), outputs.len())
}

// TestKill9Child is the consumer process of TestKill9.
func TestKill9Child(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("run by TestKill9")
	}
	p := strings.SplitN(spec, "|", 5)
	if len(p) != 5 {
		t.Fatalf("%s=%q: want 5 fields", childEnv, spec)
	}
	if err := runChild(p[0], p[1], p[2], p[3], p[4]); err != nil {
		t.Fatal(err)
	}
}

// runChild runs a consumer until killed.
func runChild(natsURL, dbURL, modelFile, x, delay string) error {
	ctx := context.Background()
	d, err := time.ParseDuration(delay)
	if err != nil {
		return err
	}
	art, err := model.LoadFile(modelFile)
	if err != nil {
		return err
	}
	art.SetIdentity(tripcast.DefaultModelName, "1")
	s, err := stream.OpenNATS(ctx, natsURL, stream.NATSOptions{BatchSize: 100, AckWait: 2 * time.Second})
	if err != nil {
		return err
	}
	db, err := sqlstore.Open(ctx, dbURL, nil)
	if err != nil {
		return err
	}
	p := serve.New(serve.Options{})
	p.Swap(art)
	c, err := consume.New(consume.Config{Input: "ride_events_" + x, Output: "ride_predictions_" + x,
		DeadLetter: "ride_events_dlq_" + x, Consumer: "predict"}, s, p, slowLog{db.PredictionLog(), d})
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
