package consume_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"tripcast"
	"tripcast/consume"
	"tripcast/serve"
	"tripcast/stream"
)

// BenchmarkHandle measures the consumer's hot path on batches of 1,000
// real ride events: decode, validate, predict (real gbdt), log to SQLite
// (one transaction) and publish the predictions to embedded NATS. The
// stream's own fetch and ack are not included (see package stream's
// benchmarks).
func BenchmarkHandle(b *testing.B) {
	const batch = 1000
	art, trips := realModel(b)
	s, err := stream.OpenEmbedded(context.Background(), b.TempDir(), "", stream.NATSOptions{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	db := freshDB(b)
	p := serve.New(serve.Options{})
	p.Swap(art)
	c, err := consume.New(consume.Config{}, s, p, db.PredictionLog())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{"ride_predictions", "ride_events_dlq"} {
		if err := s.EnsureStream(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
	msgs := make([]tripcast.Message, batch)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var spent time.Duration
	for i := range b.N {
		b.StopTimer()
		prefix := "b" + strconv.Itoa(i) + "-"
		for j := range msgs {
			msgs[j] = tripcast.Message{ID: strconv.Itoa(i*batch + j), Key: strconv.Itoa(j), Data: validEvent(trips, prefix, j), Delivered: 1}
		}
		b.StartTimer()
		start := time.Now()
		if err := c.Handle(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	b.ReportMetric(float64(b.N*batch)/spent.Seconds(), "events/s")
}
