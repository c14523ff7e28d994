package groundtruth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"tripcast"
	"tripcast/groundtruth"
	"tripcast/internal/testenv"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/stream"
)

// envOr returns the environment variable key, or def when unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestConsumerEngines runs the consumer on every stream engine (embedded
// NATS, the external NATS server, Kinesis on kinesalite), on streams of
// their own: completions are stored once, bad events dead-lettered.
func TestConsumerEngines(t *testing.T) {
	natsURL := envOr("TRIPCAST_TEST_NATS", "nats://127.0.0.1:4222")
	kinesisURL := envOr("TRIPCAST_TEST_KINESIS", "http://127.0.0.1:4567")
	for _, e := range []struct {
		name, source string
		open         func(t *testing.T, db *sqlstore.DB) (tripcast.Stream, error)
	}{
		{"embedded", tripcast.SourceNATS, func(t *testing.T, _ *sqlstore.DB) (tripcast.Stream, error) {
			return stream.OpenEmbedded(context.Background(), t.TempDir(), "", stream.NATSOptions{})
		}},
		{"nats", tripcast.SourceNATS, func(t *testing.T, _ *sqlstore.DB) (tripcast.Stream, error) {
			u, _ := url.Parse(natsURL)
			testenv.Require(t, "NATS", u.Host)
			return stream.OpenNATS(context.Background(), natsURL, stream.NATSOptions{})
		}},
		{"kinesis", tripcast.SourceKinesis, func(t *testing.T, db *sqlstore.DB) (tripcast.Stream, error) {
			u, _ := url.Parse(kinesisURL)
			testenv.Require(t, "Kinesis (kinesalite)", u.Host)
			return stream.OpenKinesis(context.Background(), "kinesis://?region=us-east-1&shards=1&poll=50ms&endpoint="+url.QueryEscape(kinesisURL), db, nil)
		}},
	} {
		t.Run(e.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
			st, err := e.open(t, db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			b := make([]byte, 4)
			rand.Read(b)
			suffix := hex.EncodeToString(b)
			cfg := groundtruth.Config{Input: "gt_in_" + suffix, DeadLetter: "gt_dlq_" + suffix, Source: e.source}
			if err := st.EnsureStream(ctx, cfg.Input); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				ev := fmt.Sprintf(`{"type":"ride_completed","ride_id":%d,"duration":%d.5}`, i, i+1)
				if err := st.Publish(ctx, cfg.Input, fmt.Sprint(i), []byte(ev)); err != nil {
					t.Fatal(err)
				}
			}
			for _, ev := range []string{`{"ride_id":3,"duration":4.5}`, `{"ride_id":3}`} {
				if err := st.Publish(ctx, cfg.Input, "3", []byte(ev)); err != nil {
					t.Fatal(err)
				}
			}
			c, err := groundtruth.New(cfg, st, db)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			waitStats(t, c, 7)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			want := groundtruth.Stats{Received: 7, Stored: 5, Duplicates: 1, Unmatched: 5, DeadLettered: 1}
			if got := c.Stats(); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if got, err := db.GetCompletion(context.Background(), "4"); err != nil || got.Duration != 5.5 || !got.RideIDNumeric || got.Stream != cfg.Input {
				t.Errorf("got %+v, %v, want ride 4's completion", got, err)
			}
		})
	}
}
