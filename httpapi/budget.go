package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
)

// retryAfter is the Retry-After (seconds) of a batch refused for lack of
// budget: batches take about a second per 100,000 rides here.
const retryAfter = 1

// budget bounds the bytes of batch request bodies being worked on at once
// (the memory of batch work grows with them). It never waits: a request
// that does not fit is refused, so a burst of big batches cannot queue up
// goroutines and memory either.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	inUse prometheus.Gauge
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, inUse: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tripcast_http_batch_budget_used_bytes",
		Help: "Bytes of batch request bodies being worked on (bounded by the batch budget).",
	})}
}

// take reserves n bytes (at most the whole budget, so that a batch alone
// always fits) and returns what it reserved; ok is false when they do not
// fit now.
func (b *budget) take(n int64) (int64, bool) {
	n = min(n, b.limit)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return 0, false
	}
	b.used += n
	b.inUse.Set(float64(b.used))
	return n, true
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.inUse.Set(float64(b.used))
}

// takeBudget reserves the batch's share of the budget, by its declared
// Content-Length (MaxBatchBodyBytes when unknown). When it does not fit it
// answers 429 with Retry-After and returns false; the body is read and
// discarded first (without keeping it), so the client reads the answer
// rather than a reset connection.
func (s *Server) takeBudget(w http.ResponseWriter, r *http.Request) (int64, bool) {
	n := r.ContentLength
	if n < 0 || n > s.cfg.MaxBatchBodyBytes {
		n = s.cfg.MaxBatchBodyBytes
	}
	got, ok := s.budget.take(n)
	if ok {
		return got, true
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, s.cfg.MaxBatchBodyBytes))
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	s.writeErrorStatus(w, r, http.StatusTooManyRequests, tripcast.Errorf(tripcast.EUNAVAILABLE,
		"too much batch work at once (a budget of %d bytes of request bodies): retry after %d s, or send smaller batches",
		s.budget.limit, retryAfter))
	return 0, false
}
