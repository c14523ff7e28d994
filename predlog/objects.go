package predlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tripcast"
)

// DefaultObjectParallel is ObjectOptions.Parallel's default.
const DefaultObjectParallel = 16

// ObjectOptions tune an ObjectLog. Zero values take the defaults.
type ObjectOptions struct {
	// Parallel is how many objects are written at once (S3 answers each
	// write in milliseconds). Default DefaultObjectParallel.
	Parallel int
	// Logger gets the records set aside (an empty ride_id). nil: discard.
	Logger *slog.Logger
}

// ObjectLog is the prediction log in the layout of the system tripcast
// replaces (the "seed"): one JSON object per prediction in the blob store,
//
//	predictions/YYYY/MM/DD/<ride_id>.json
//
// (the UTC date of PredictedAt) holding
//
//	{"ride_id": 256, "timestamp": "2026-03-04T22:30:00.000123Z",
//	 "features": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66,
//	              "pickup_datetime": "2021-02-01T08:15:00"},
//	 "predicted_duration": 21.3, "model": "ride_duration_prediction_model", "version": "3"}
//
// ride_id keeps its JSON type; timestamp is PredictedAt in RFC 3339 (UTC);
// pickup_datetime (the New York wall clock, no zone, as in the TLC files)
// is left out when the event had none. It is opt-in and sits beside the
// parquet log (whose keys, predictions/date=…, it never collides with):
// one object per prediction is slow and costly on S3 (one PUT each).
//
// A ride_id is used in the key as it is when it is made of ASCII letters,
// digits, '-', '_' and '.' and does not start with '.'; any other byte
// (a '/', a space, '%', non-ASCII…) and a leading '.' are written %XX
// (hex of the byte), so that no ride_id can escape its folder or name two
// objects, and the object's ride_id field holds the original. A ride
// predicted twice on one day (by two model versions) keeps one object,
// the last one logged.
//
// Log writes synchronously (Flush has nothing to do); put it behind
// Buffered for the request path. A failed Log may have written some
// objects; logging the records again rewrites them, which is harmless.
type ObjectLog struct {
	store   tripcast.BlobStore
	o       ObjectOptions
	skipped atomic.Int64
}

var _ tripcast.PredictionLog = (*ObjectLog)(nil)

// NewObjectLog returns an ObjectLog writing into store (which the caller
// keeps owning).
func NewObjectLog(store tripcast.BlobStore, o ObjectOptions) *ObjectLog {
	if o.Parallel <= 0 {
		o.Parallel = DefaultObjectParallel
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &ObjectLog{store: store, o: o}
}

// Log writes one object per record, Parallel at a time, and returns once
// every one is written, or the errors of those that were not. A record
// with an empty ride_id (which no adapter produces: they assign one) is
// set aside: logged at ERROR and counted (Skipped), not written.
func (l *ObjectLog) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	// One write per key: the last record of a key wins, as it would if
	// they were written in order.
	keys := make(map[string]int, len(recs))
	for i := range recs {
		if recs[i].RideID == "" {
			l.skipped.Add(1)
			l.o.Logger.Error("prediction object log: record without ride_id set aside", "model", recs[i].Model,
				"version", recs[i].Version, "predicted_at", recs[i].PredictedAt, "skipped_total", l.skipped.Load())
			continue
		}
		keys[ObjectKey(&recs[i])] = i
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, l.o.Parallel)
	)
	for key, i := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("log %d prediction objects: %w", len(keys), ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			body, err := EncodeObject(&recs[i])
			if err == nil {
				_, err = l.store.Put(ctx, key, bytes.NewReader(body))
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("prediction object %s: %w", key, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("log %d prediction objects: %d failed: %w", len(keys), len(errs), errors.Join(errs...))
	}
	return nil
}

// Flush returns nil: Log writes synchronously.
func (l *ObjectLog) Flush(context.Context) error { return nil }

// Skipped returns how many records Log set aside (empty ride_id).
func (l *ObjectLog) Skipped() int64 { return l.skipped.Load() }

// ObjectKey returns the key of r's object (see ObjectLog).
func ObjectKey(r *tripcast.PredictionRecord) string {
	return Prefix + "/" + r.PredictedAt.UTC().Format("2006/01/02") + "/" + escapeKey(r.RideID) + ".json"
}

// escapeKey returns id with every byte but ASCII letters, digits, '-', '_'
// and a '.' not in first place written %XX: injective ('%' itself is
// escaped) and safe as one path element on every store.
func escapeKey(id string) string {
	const hex = "0123456789ABCDEF"
	safe := func(i int) bool {
		c := id[i]
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0
	}
	n := 0
	for i := range len(id) {
		if !safe(i) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	b := make([]byte, 0, len(id)+2*n)
	for i := range len(id) {
		if safe(i) {
			b = append(b, id[i])
		} else {
			b = append(b, '%', hex[id[i]>>4], hex[id[i]&15])
		}
	}
	return string(b)
}

// objectFeatures and objectBody are the JSON of an ObjectLog object.
type objectFeatures struct {
	PULocationID int     `json:"PULocationID"`
	DOLocationID int     `json:"DOLocationID"`
	TripDistance float64 `json:"trip_distance"`
	Pickup       string  `json:"pickup_datetime,omitempty"`
}

type objectBody struct {
	RideID            json.RawMessage `json:"ride_id"`
	Timestamp         string          `json:"timestamp"`
	Features          objectFeatures  `json:"features"`
	PredictedDuration float64         `json:"predicted_duration"`
	Model             string          `json:"model"`
	Version           string          `json:"version"`
}

// EncodeObject returns the JSON object ObjectLog writes for r.
func EncodeObject(r *tripcast.PredictionRecord) ([]byte, error) {
	id := json.RawMessage(r.RideID)
	if !r.RideIDNumeric || !json.Valid(id) {
		var err error
		if id, err = json.Marshal(r.RideID); err != nil {
			return nil, err
		}
	}
	o := objectBody{
		RideID: id, Timestamp: r.PredictedAt.UTC().Format(time.RFC3339Nano),
		Features:          objectFeatures{PULocationID: r.PULocationID, DOLocationID: r.DOLocationID, TripDistance: r.TripDistance},
		PredictedDuration: r.Prediction, Model: r.Model, Version: r.Version,
	}
	if !r.PickupTime.IsZero() {
		o.Features.Pickup = r.PickupTime.UTC().Format("2006-01-02T15:04:05")
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode prediction of ride %q: %w", r.RideID, err)
	}
	return b, nil
}
