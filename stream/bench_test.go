package stream_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tripcast"
	"tripcast/stream"
)

// cpuTime returns the process's user+system CPU time. The machine running
// the benchmarks is shared, so besides events/s (wall clock) they report the
// CPU spent per event, which does not depend on what else runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the events/s and CPU µs/event metrics.
func report(b *testing.B, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
}

// benchBatch is the batch size the benchmarks publish and consume with.
const benchBatch = 1000

// openBenchEmbedded opens an embedded NATS stream in a temp dir with streams
// in and out.
func openBenchEmbedded(b *testing.B, batch int, noFast bool) *stream.NATS {
	b.Helper()
	s, err := stream.OpenEmbedded(context.Background(), b.TempDir(), "", stream.NATSOptions{Logger: testLogger(b), BatchSize: batch, NoFastBatch: noFast})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for _, name := range []string{"ride_events", "ride_predictions"} {
		if err := s.EnsureStream(context.Background(), name); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// produce publishes n ride events to ride_events in batches.
func produce(b *testing.B, s tripcast.Stream, n int) {
	msgs := make([]tripcast.Message, 0, benchBatch)
	for i := 0; i < n; i += benchBatch {
		msgs = msgs[:0]
		for j := i; j < min(i+benchBatch, n); j++ {
			msgs = append(msgs, tripcast.Message{Key: strconv.Itoa(j), Data: rideEvent(j)})
		}
		if err := s.PublishBatch(context.Background(), "ride_events", msgs); err != nil {
			b.Error(err)
			return
		}
	}
}

// BenchmarkEmbeddedPipeline measures events/s end to end through embedded
// NATS the way serving uses it: a producer publishes ride events, a consumer
// reads them in batches and publishes one output message per event to a
// second stream (where prediction would happen), acknowledging the input
// batch only after the outputs are stored, and a second consumer reads the
// outputs. Producer and consumers run concurrently.
//
// Sub-benchmarks: publish=fast uses fast batch publishing (one flow ack per
// few hundred messages), publish=each one ack per message; batch is the
// consumer's batch size.
func BenchmarkEmbeddedPipeline(b *testing.B) {
	for _, c := range []struct {
		publish string
		batch   int
	}{{"fast", 100}, {"fast", 1000}, {"each", 1000}} {
		b.Run("publish="+c.publish+"/batch="+strconv.Itoa(c.batch), func(b *testing.B) {
			s := openBenchEmbedded(b, c.batch, c.publish == "each")
			var calls atomic.Int64
			done := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			go s.Consume(ctx, "ride_events", "predict", func(ctx context.Context, in []tripcast.Message) error {
				calls.Add(1)
				out := make([]tripcast.Message, len(in))
				for i, m := range in {
					out[i] = tripcast.Message{Key: m.Key, Data: m.Data, ID: m.ID}
				}
				return s.PublishBatch(ctx, "ride_predictions", out)
			})
			go s.Consume(ctx, "ride_predictions", "sink", countUntil(b.N, done))
			go produce(b, s, b.N)
			<-done
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			report(b, elapsed, cpu)
			b.ReportMetric(float64(b.N)/float64(calls.Load()), "events/batch")
		})
	}
}

// countUntil returns a consumer handler that counts the messages it gets and
// closes done once it has n of them.
func countUntil(n int, done chan struct{}) func(context.Context, []tripcast.Message) error {
	var got atomic.Int64
	return func(ctx context.Context, in []tripcast.Message) error {
		if got.Add(int64(len(in))) >= int64(n) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil
	}
}

// BenchmarkEmbeddedPublishConsume measures events/s published and consumed
// (acknowledged) through embedded NATS, producer and consumer concurrent.
func BenchmarkEmbeddedPublishConsume(b *testing.B) {
	s := openBenchEmbedded(b, benchBatch, false)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	go s.Consume(ctx, "ride_events", "count", countUntil(b.N, done))
	go produce(b, s, b.N)
	<-done
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	report(b, elapsed, cpu)
}

// BenchmarkNATSScan measures reading a stream back with Scan (what the
// stream consumer does once after a crash: about AckWait of output, 1.5
// million messages at 50,000 events/s).
func BenchmarkNATSScan(b *testing.B) {
	s := openBenchEmbedded(b, benchBatch, false)
	produce(b, s, b.N)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	n := 0
	if err := s.Scan(context.Background(), "ride_events", time.Time{}, func(tripcast.Message) error {
		n++
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if n != b.N {
		b.Fatalf("scanned %d messages, want %d", n, b.N)
	}
	report(b, time.Since(start), cpuTime()-cpu0)
}
