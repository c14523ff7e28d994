// Package predlog is the parquet prediction log: every prediction tripcast
// makes, batched into parquet files in a blob store, partitioned by the hour
// it was made in, and read back by monitoring.
//
// Layout: predictions/date=YYYY-MM-DD/hour=HH/<first predicted_at>-<random>.parquet
// (UTC, by PredictedAt). Columns: ride_id, model, version, pu_location_id,
// do_location_id, trip_distance, pickup_datetime (null when unknown),
// prediction, received_at, predicted_at, latency_us, source,
// ride_id_numeric (optional: true when ride_id was a JSON number; files
// written before it existed lack it, and read as false). Times are
// microsecond timestamps; pickup_datetime is the New York wall clock stored as
// UTC, like tripcast.Trips. Compact merges an hour's files into one. Reader
// reads the log back by window (tripcast.PredictionReader).
package predlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"tripcast"
)

// Prefix is the blob key prefix of the prediction log.
const Prefix = "predictions"

// Defaults of Options.
const (
	DefaultFlushRecords  = 10_000
	DefaultFlushInterval = 10 * time.Second
	DefaultMaxPending    = 1_000_000
)

// row is one parquet row; the tags are the file's schema.
type row struct {
	RideID       string    `parquet:"ride_id"`
	Model        string    `parquet:"model,dict"`
	Version      string    `parquet:"version,dict"`
	PULocationID int32     `parquet:"pu_location_id"`
	DOLocationID int32     `parquet:"do_location_id"`
	TripDistance float64   `parquet:"trip_distance"`
	Pickup       time.Time `parquet:"pickup_datetime,optional,timestamp(microsecond)"`
	Prediction   float64   `parquet:"prediction"`
	ReceivedAt   time.Time `parquet:"received_at,timestamp(microsecond)"`
	PredictedAt  time.Time `parquet:"predicted_at,timestamp(microsecond)"`
	LatencyUS    int64     `parquet:"latency_us"`
	Source       string    `parquet:"source,dict"`
	// RideIDNumeric is optional: files written before it lack the column.
	RideIDNumeric bool `parquet:"ride_id_numeric,optional"`
}

func toRow(r *tripcast.PredictionRecord) row {
	return row{
		RideID: r.RideID, Model: r.Model, Version: r.Version,
		PULocationID: int32(r.PULocationID), DOLocationID: int32(r.DOLocationID), TripDistance: r.TripDistance,
		Pickup: r.PickupTime, Prediction: r.Prediction,
		ReceivedAt: r.ReceivedAt.UTC(), PredictedAt: r.PredictedAt.UTC(),
		LatencyUS: r.Latency.Microseconds(), Source: r.Source, RideIDNumeric: r.RideIDNumeric,
	}
}

func (w *row) record() tripcast.PredictionRecord {
	r := tripcast.PredictionRecord{
		RideID: w.RideID, Model: w.Model, Version: w.Version,
		PULocationID: int(w.PULocationID), DOLocationID: int(w.DOLocationID), TripDistance: w.TripDistance,
		Prediction: w.Prediction, ReceivedAt: w.ReceivedAt.UTC(), PredictedAt: w.PredictedAt.UTC(),
		Latency: time.Duration(w.LatencyUS) * time.Microsecond, Source: w.Source, RideIDNumeric: w.RideIDNumeric,
	}
	if !w.Pickup.IsZero() {
		r.PickupTime = w.Pickup.UTC()
	}
	return r
}

// Options tune a Writer. Zero values take the defaults.
type Options struct {
	// FlushRecords: a flush starts in the background once this many
	// records are buffered.
	FlushRecords int
	// FlushInterval: buffered records are flushed at least this often.
	FlushInterval time.Duration
	// MaxPending: Log refuses (EUNAVAILABLE) records beyond this many
	// buffered, which happens only when writes keep failing.
	MaxPending int
	// Logger gets background flush failures. nil: discard.
	Logger *slog.Logger
}

// Writer is a buffered tripcast.PredictionLog: parquet files in a blob
// store (New), or another log made asynchronous (Buffered).
// Log only buffers (no I/O: cheap enough for the HTTP request path); files
// are written in the background every FlushRecords records or
// FlushInterval, by Flush, and by Close. A failed write keeps its records
// buffered for the next attempt; each record is written once.
//
// Durability: records handed to Log are lost if the process dies before
// they are flushed. A stream consumer must call Flush (which returns only
// once every record logged before the call is in the store) before it
// acknowledges a batch; concurrent Flush calls share writes (group commit).
// Each Flush with new records writes one file per hour partition, so
// flushing after every small batch makes many small files: consume in large
// batches, and Compact finished hours. The HTTP API only calls Log.
type Writer struct {
	store tripcast.BlobStore
	o     Options
	// sink stores a batch; on error it returns the records it did not
	// store, which stay buffered.
	sink func(ctx context.Context, recs []tripcast.PredictionRecord) (rest []tripcast.PredictionRecord, err error)

	mu     sync.Mutex
	buf    []tripcast.PredictionRecord
	spare  []tripcast.PredictionRecord // a written batch's array, reused as the next buf
	closed bool
	// inflight is the number of records a Flush is writing (out of buf).
	inflight int
	// failErr is the last write's error, nil once a write succeeds;
	// failSince is when the writes began failing.
	failErr   error
	failSince time.Time

	flushMu sync.Mutex // serializes writes; held while writing
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

var (
	_ tripcast.PredictionLog = (*Writer)(nil)
	_ tripcast.LogChecker    = (*Writer)(nil)
)

// New returns a Writer into store and starts its background flusher. Close
// it to flush the rest and stop; the store stays open (the caller owns it).
func New(store tripcast.BlobStore, o Options) *Writer {
	w := newWriter(o)
	w.store = store
	w.sink = w.writeParquet
	return w
}

// Buffered returns a Writer that buffers records like New's and stores them
// in next (Log then Flush), in the background and on Flush and Close: a
// synchronous log, such as the metadata database's, made cheap for the
// request path. A failed batch stays buffered and is handed to next again,
// so next must ignore records it already holds (the SQL log does: one row
// per ride_id, model version and inputs).
func Buffered(next tripcast.PredictionLog, o Options) *Writer {
	w := newWriter(o)
	w.sink = func(ctx context.Context, recs []tripcast.PredictionRecord) ([]tripcast.PredictionRecord, error) {
		if err := next.Log(ctx, recs); err != nil {
			return recs, err
		}
		if err := next.Flush(ctx); err != nil {
			return recs, err
		}
		return nil, nil
	}
	return w
}

func newWriter(o Options) *Writer {
	if o.FlushRecords <= 0 {
		o.FlushRecords = DefaultFlushRecords
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxPending < o.FlushRecords {
		o.MaxPending = o.FlushRecords
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{o: o, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.Flush(context.Background()); err != nil {
			w.o.Logger.Error("prediction log flush failed; records kept for the next attempt", "err", err, "pending", w.Pending())
		}
	}
}

// Log buffers recs. EUNAVAILABLE when the writer is closed or MaxPending
// records are already waiting.
func (w *Writer) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if len(recs) == 0 {
		return nil
	}
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "prediction log is closed")
	case len(w.buf)+w.inflight+len(recs) > w.o.MaxPending:
		n := len(w.buf) + w.inflight
		w.mu.Unlock()
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "prediction log is full (%d records waiting to be written)", n)
	}
	w.buf = append(w.buf, recs...)
	full := len(w.buf) >= w.o.FlushRecords
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Pending returns the number of records not yet written: buffered, or
// being written by a Flush.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) + w.inflight
}

// CheckLog returns nil unless the last write failed (and no write
// succeeded since); then an EUNAVAILABLE error with that write's error,
// since when writes fail, and how many records wait (see
// tripcast.LogChecker).
func (w *Writer) CheckLog() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failErr == nil {
		return nil
	}
	return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Err: w.failErr, Message: fmt.Sprintf(
		"prediction log cannot be written since %s (%d records waiting, at most %d)",
		w.failSince.UTC().Format(time.RFC3339), len(w.buf)+w.inflight, w.o.MaxPending)}
}

// Flush writes every buffered record and returns once they are stored. On
// error the records not written stay buffered.
func (w *Writer) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.buf
	w.buf, w.spare = w.spare, nil
	w.inflight = len(batch)
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if rest, err := w.sink(ctx, batch); err != nil {
		w.mu.Lock()
		w.buf = append(slices.Clip(rest), w.buf...)
		w.inflight = 0
		if w.failErr == nil {
			w.failSince = time.Now()
		}
		w.failErr = err
		w.mu.Unlock()
		return err
	}
	w.mu.Lock()
	w.failErr, w.inflight = nil, 0
	w.mu.Unlock()
	if cap(batch) <= 4*w.o.FlushRecords { // keep one ordinary-sized array for reuse
		clear(batch)
		w.mu.Lock()
		w.spare = batch[:0]
		w.mu.Unlock()
	}
	return nil
}

// Close flushes the buffered records and stops the background flusher.
// Log fails after Close.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if err := w.Flush(context.Background()); err != nil {
		return fmt.Errorf("close prediction log: %w (%d records lost)", err, w.Pending())
	}
	return nil
}

type part struct {
	hour time.Time // UTC, truncated to the hour
	recs []tripcast.PredictionRecord
}

// partition groups recs by the UTC hour of PredictedAt, in order of hours.
func partition(recs []tripcast.PredictionRecord) []part {
	h0 := recs[0].PredictedAt.UTC().Truncate(time.Hour)
	same := true
	for i := range recs {
		if !recs[i].PredictedAt.UTC().Truncate(time.Hour).Equal(h0) {
			same = false
			break
		}
	}
	if same { // the common case: no copy
		return []part{{hour: h0, recs: recs}}
	}
	var parts []part
	idx := map[time.Time]int{}
	for i := range recs {
		h := recs[i].PredictedAt.UTC().Truncate(time.Hour)
		j, ok := idx[h]
		if !ok {
			j = len(parts)
			idx[h] = j
			parts = append(parts, part{hour: h})
		}
		parts[j].recs = append(parts[j].recs, recs[i])
	}
	slices.SortFunc(parts, func(a, b part) int { return a.hour.Compare(b.hour) })
	return parts
}

// hourPrefix returns the key prefix of the partition holding hour h.
func hourPrefix(h time.Time) string {
	return fmt.Sprintf("%s/date=%s/hour=%02d/", Prefix, h.Format(time.DateOnly), h.Hour())
}

// writeParquet writes recs as one file per hour partition.
func (w *Writer) writeParquet(ctx context.Context, recs []tripcast.PredictionRecord) ([]tripcast.PredictionRecord, error) {
	parts := partition(recs)
	for i, p := range parts {
		if err := w.write(ctx, p); err != nil {
			var rest []tripcast.PredictionRecord
			for _, q := range parts[i:] {
				rest = append(rest, q.recs...)
			}
			return rest, err
		}
	}
	return nil, nil
}

func (w *Writer) write(ctx context.Context, p part) error {
	first := p.recs[0].PredictedAt
	for i := range p.recs {
		if p.recs[i].PredictedAt.Before(first) {
			first = p.recs[i].PredictedAt
		}
	}
	key := hourPrefix(p.hour) + first.UTC().Format("20060102T150405.000000Z") + "-" + randomHex() + ".parquet"
	return writeRows(ctx, w.store, key, p.recs)
}

func randomHex() string {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(rnd[:])
}

// writeRows writes recs as one parquet file under key.
func writeRows(ctx context.Context, store tripcast.BlobStore, key string, recs []tripcast.PredictionRecord, opts ...parquet.WriterOption) error {
	rows := make([]row, len(recs))
	for i := range recs {
		rows[i] = toRow(&recs[i])
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, append(opts, parquet.Compression(codec))...); err != nil {
		return fmt.Errorf("encode %d predictions: %w", len(rows), err)
	}
	if _, err := store.Put(ctx, key, &buf); err != nil {
		return fmt.Errorf("write %d predictions: %w", len(rows), err)
	}
	return nil
}

// codec is zstd at its fastest level: the log is written on the serving
// path's CPU: on 50,000 records the fastest level took ~70 % of the
// default level's time, for files 1.5x as large (~6.5 bytes a record).
var codec = &zstd.Codec{Level: zstd.SpeedFastest}

// Read returns the logged predictions made in [from, to), sorted by
// PredictedAt then RideID (see Reader).
func Read(ctx context.Context, store tripcast.BlobStore, from, to time.Time) ([]tripcast.PredictionRecord, error) {
	if !from.Before(to) {
		return nil, nil
	}
	var out []tripcast.PredictionRecord
	err := NewReader(store).ReadPredictions(ctx, tripcast.PredictionQuery{From: from, To: to},
		func(r *tripcast.PredictionRecord) error {
			out = append(out, *r)
			return nil
		})
	return out, err
}

// Reader reads the parquet prediction log of a blob store back
// (tripcast.PredictionReader).
type Reader struct {
	store tripcast.BlobStore
}

var _ tripcast.PredictionReader = (*Reader)(nil)

// NewReader returns a Reader of the log in store.
func NewReader(store tripcast.BlobStore) *Reader { return &Reader{store: store} }

// ReadPredictions calls fn for the logged predictions made in [q.From,
// q.To) that match q, sorted by PredictedAt then RideID. It reads only the
// hour partitions overlapping the window, one hour at a time (memory holds
// one hour of the log). Files merged by Compact are read once: a compacted
// file lists its inputs, which are skipped if a crash left them behind.
func (rd *Reader) ReadPredictions(ctx context.Context, q tripcast.PredictionQuery, fn func(*tripcast.PredictionRecord) error) error {
	if err := q.Check(); err != nil {
		return err
	}
	from, to := q.From.UTC(), q.To.UTC()
	var recs []tripcast.PredictionRecord
	for day := from.Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		list, err := rd.store.List(ctx, fmt.Sprintf("%s/date=%s/", Prefix, day.Format(time.DateOnly)))
		if err != nil {
			return fmt.Errorf("read predictions of %s: %w", day.Format(time.DateOnly), err)
		}
		for _, hour := range byHour(list) {
			if hour.hour.Add(time.Hour).Compare(from) <= 0 || !hour.hour.Before(to) {
				continue
			}
			files, err := readHour(ctx, rd.store, hour)
			if err != nil {
				return err
			}
			recs = recs[:0]
			for _, f := range files {
				for i := range f.recs {
					r := &f.recs[i]
					if !r.PredictedAt.Before(from) && r.PredictedAt.Before(to) && q.Match(r) {
						recs = append(recs, *r)
					}
				}
			}
			slices.SortStableFunc(recs, func(a, b tripcast.PredictionRecord) int {
				if c := a.PredictedAt.Compare(b.PredictedAt); c != 0 {
					return c
				}
				return strings.Compare(a.RideID, b.RideID)
			})
			for i := range recs {
				if err := fn(&recs[i]); err != nil {
					return fmt.Errorf("read predictions: %w", err)
				}
			}
		}
	}
	return nil
}

type hourKeys struct {
	hour time.Time
	keys []string
}

// byHour groups the parquet files of a listing by partition hour, in order.
func byHour(list []tripcast.BlobInfo) []hourKeys {
	var out []hourKeys
	for _, info := range list {
		h, ok := keyHour(info.Key)
		if !ok || !strings.HasSuffix(info.Key, ".parquet") {
			continue
		}
		if n := len(out); n > 0 && out[n-1].hour.Equal(h) {
			out[n-1].keys = append(out[n-1].keys, info.Key)
		} else {
			out = append(out, hourKeys{hour: h, keys: []string{info.Key}})
		}
	}
	slices.SortStableFunc(out, func(a, b hourKeys) int { return a.hour.Compare(b.hour) })
	return out
}

// keyHour parses the partition hour out of a key.
func keyHour(key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, Prefix+"/date=")
	if !ok || len(rest) < len("2006-01-02/hour=15/") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02/hour=15/", rest[:len("2006-01-02/hour=15/")])
	return t, err == nil
}

// compactedFrom is the parquet key-value metadata of a compacted file: the
// JSON array of the keys it merged.
const compactedFrom = "tripcast.compacted_from"

type file struct {
	key    string
	recs   []tripcast.PredictionRecord
	inputs []string // keys merged into this file by Compact
}

// readHour reads one hour partition listed as hk. A file that vanished
// since the listing was deleted by a Compact, whose merged file the listing
// may lack: the partition is listed and read again.
func readHour(ctx context.Context, store tripcast.BlobStore, hk hourKeys) ([]file, error) {
	for attempt := 0; ; attempt++ {
		files, err := readPartition(ctx, store, hk.keys)
		if !errors.Is(err, errVanished) || attempt == 5 {
			return files, err
		}
		list, err := store.List(ctx, hourPrefix(hk.hour))
		if err != nil {
			return nil, fmt.Errorf("read predictions: %w", err)
		}
		hk.keys = hk.keys[:0]
		for _, h := range byHour(list) {
			hk.keys = append(hk.keys, h.keys...)
		}
	}
}

var errVanished = errors.New("a prediction file vanished while read")

// readPartition reads the files of one hour partition, leaving out those a
// compacted file of the partition says it merged.
func readPartition(ctx context.Context, store tripcast.BlobStore, keys []string) ([]file, error) {
	files := make([]file, 0, len(keys))
	merged := map[string]bool{}
	for _, key := range keys {
		f, err := readFile(ctx, store, key)
		if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
			return nil, fmt.Errorf("read predictions %s: %w", key, errVanished)
		} else if err != nil {
			return nil, err
		}
		for _, k := range f.inputs {
			merged[k] = true
		}
		files = append(files, f)
	}
	return slices.DeleteFunc(files, func(f file) bool { return merged[f.key] }), nil
}

func readFile(ctx context.Context, store tripcast.BlobStore, key string) (file, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return file{}, fmt.Errorf("read predictions %s: %w", key, err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return file{}, fmt.Errorf("read predictions %s: %w", key, err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return file{}, fmt.Errorf("decode predictions %s: %w", store.URI(key), err)
	}
	f := file{key: key}
	if v, ok := pf.Lookup(compactedFrom); ok {
		if err := json.Unmarshal([]byte(v), &f.inputs); err != nil {
			return file{}, fmt.Errorf("decode predictions %s: %s metadata: %w", store.URI(key), compactedFrom, err)
		}
	}
	rows, err := parquet.Read[row](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return file{}, fmt.Errorf("decode predictions %s: %w", store.URI(key), err)
	}
	f.recs = make([]tripcast.PredictionRecord, len(rows))
	for i := range rows {
		f.recs[i] = rows[i].record()
	}
	return f, nil
}

// Compact merges the files of the hour partition holding hour into one file
// (sorted by PredictedAt) and deletes them, and returns how many files it
// merged (0 when there was at most one). Run it on finished hours: a stream
// consumer flushing every batch leaves many small files behind.
//
// It is safe against crashes and concurrent writers: the merged file names
// its inputs in its metadata and is written before they are deleted, so
// Read never counts a record twice; a file written during the compaction is
// left alone. Concurrent Compacts of one hour are not supported.
func Compact(ctx context.Context, store tripcast.BlobStore, hour time.Time) (int, error) {
	hour = hour.UTC().Truncate(time.Hour)
	prefix := hourPrefix(hour)
	list, err := store.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("compact predictions %s: %w", prefix, err)
	}
	var keys []string
	for _, info := range list {
		if strings.HasSuffix(info.Key, ".parquet") && !strings.Contains(info.Key[len(prefix):], "/") {
			keys = append(keys, info.Key)
		}
	}
	if len(keys) <= 1 {
		return 0, nil
	}
	files, err := readPartition(ctx, store, keys)
	if err != nil {
		return 0, fmt.Errorf("compact predictions %s: %w", prefix, err)
	}
	var recs []tripcast.PredictionRecord
	for _, f := range files {
		recs = append(recs, f.recs...)
	}
	if len(files) == 1 {
		// The other files were merged into this one (a Compact stopped
		// before deleting them): only the deletions are left to do.
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == files[0].key })
	} else if len(recs) > 0 {
		slices.SortStableFunc(recs, func(a, b tripcast.PredictionRecord) int { return a.PredictedAt.Compare(b.PredictedAt) })
		inputs, err := json.Marshal(keys)
		if err != nil {
			return 0, err
		}
		key := prefix + recs[0].PredictedAt.UTC().Format("20060102T150405.000000Z") + "-compacted-" + randomHex() + ".parquet"
		if err := writeRows(ctx, store, key, recs, parquet.KeyValueMetadata(compactedFrom, string(inputs))); err != nil {
			return 0, fmt.Errorf("compact predictions %s: %w", prefix, err)
		}
	}
	for _, k := range keys {
		if err := store.Delete(ctx, k); err != nil && tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			return 0, fmt.Errorf("compact predictions %s: %w", prefix, err)
		}
	}
	return len(keys), nil
}

// Multi returns a PredictionLog that logs to every one of logs (say, the
// metadata database and the parquet Writer): Log and Flush call each in
// turn and stop at the first error. It is a tripcast.LogChecker over those
// of logs that are. When the first is a tripcast.PriorLog,
// so is the result: the others then get only the records it did not hold.
func Multi(logs ...tripcast.PredictionLog) tripcast.PredictionLog {
	if len(logs) > 0 {
		if p, ok := logs[0].(tripcast.PriorLog); ok {
			return priorMulti{multi: logs, prior: p}
		}
	}
	return multi(logs)
}

// priorMulti is a multi whose first log tells which records it held.
type priorMulti struct {
	multi
	prior tripcast.PriorLog
}

func (m priorMulti) LogPrior(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) error {
	if err := m.prior.LogPrior(ctx, recs, prior); err != nil {
		return err
	}
	return m.multi[1:].Log(ctx, tripcast.NewRecords(recs, prior))
}

type multi []tripcast.PredictionLog

// CheckLog joins the CheckLog errors of the logs that are
// tripcast.LogCheckers (nil when none fails).
func (m multi) CheckLog() error {
	var errs []error
	for _, l := range m {
		if c, ok := l.(tripcast.LogChecker); ok {
			if err := c.CheckLog(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return tripcast.Errorf(tripcast.EUNAVAILABLE, "%v", errors.Join(errs...))
}

func (m multi) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	for _, l := range m {
		if err := l.Log(ctx, recs); err != nil {
			return err
		}
	}
	return nil
}

func (m multi) Flush(ctx context.Context) error {
	for _, l := range m {
		if err := l.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}
