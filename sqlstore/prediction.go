package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"tripcast"
)

// The prediction log table: one row per (ride_id, model, version,
// input_key), input_key being tripcast.PredictionRecord.InputKey. A stream
// consumer that sees an event again (at-least-once delivery) inserts nothing
// the second time, so the log never holds a duplicated prediction; a
// producer reusing a ride_id with other inputs gets a row per distinct
// request, so the log records what was answered.

// predictionCols are the columns read back, in scanPrediction's order.
const predictionCols = `ride_id, model, version, pu_location_id, do_location_id, trip_distance, pickup_at,
	prediction, received_at, predicted_at, latency_us, source, ride_id_numeric`

// insertCols are the inserted columns, in the order of predictionArgs.
const insertCols = predictionCols + `, input_key`

// conflictKey is the unique key of the predictions table.
const conflictKey = ` ON CONFLICT (ride_id, model, version, input_key) DO NOTHING`

// predictionColCount is the number of columns in insertCols.
const predictionColCount = 14

// predictionChunk is the most rows per multi-row INSERT on SQLite (14
// parameters each). A batch is written as full chunks, then chunks of 64,
// 32, … 1 rows for the rest: one statement per size, each prepared once
// per database (parsing SQL costs more than executing it here).
const predictionChunk = 128

// insertSizes are the chunk sizes, largest first.
var insertSizes = [...]int{128, 64, 32, 16, 8, 4, 2, 1}

// prepareInserts prepares the SQLite prediction log's INSERT of each chunk
// size, once, on the first LogPredictions (commands that never log pay
// nothing), before its transaction begins: prepared inside one, it would
// need a second connection of the log's small pool while another writer
// holds that one waiting for the first (a 30 s busy_timeout stall). A
// transaction binds them with Tx.StmtContext, which prepares on the
// transaction's own connection when that one lacks the statement.
func (db *DB) prepareInserts(ctx context.Context) error {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if db.insertStmts[0] != nil {
		return nil
	}
	var stmts [len(insertSizes)]*sql.Stmt
	for i, k := range insertSizes {
		st, err := db.logdb.PrepareContext(ctx, db.d.rebind(predictionInsert(k)))
		if err != nil {
			for _, s := range stmts[:i] {
				_ = s.Close()
			}
			return fmt.Errorf("prepare insert of %d predictions: %w", k, err)
		}
		stmts[i] = st
	}
	db.insertStmts = stmts
	return nil
}

// StoredPrediction is a prediction log row with its id: ids grow with
// insertion order, so ReadPredictionsAfter can page through the log.
type StoredPrediction struct {
	ID int64
	tripcast.PredictionRecord
}

// PredictionFilter selects prediction log rows; zero fields match all.
type PredictionFilter struct {
	RideID  string
	Model   string
	Version string
	Source  string
	Since   time.Time // predicted at or after
	Until   time.Time // predicted before
}

// checkRecord returns an EINVALID error when rec cannot be logged (its key
// is incomplete).
func checkRecord(i int, rec *tripcast.PredictionRecord) error {
	switch {
	case rec.RideID == "":
		return tripcast.FieldError("ride_id", "record %d: empty", i)
	case rec.Model == "":
		return tripcast.FieldError("model", "record %d (ride %s): empty", i, rec.RideID)
	case rec.Version == "":
		return tripcast.FieldError("version", "record %d (ride %s): empty", i, rec.RideID)
	}
	return nil
}

// LogPredictions stores recs in one transaction and returns how many were
// new: a record whose (ride_id, model, version, InputKey) is already in the log is
// skipped (INSERT … ON CONFLICT DO NOTHING), so logging a redelivered batch
// again is harmless. PostgreSQL takes the batch as array parameters in one
// statement; SQLite as multi-row INSERTs of up to 128 rows.
//
// One bad record never blocks the others: a record with an empty ride_id,
// model or version is set aside at once; when the database refuses a
// record's data (a data exception, SQLSTATE class 22, such as PostgreSQL's
// 22021 for a NUL byte in a text), the batch is split in halves and each
// half stored in its own transaction, down to the refused records. Set
// aside means dropped from this log, counted (RejectedPredictions) and
// logged at ERROR with the ride_id escaped (a NUL shows as \x00). They are neither new nor
// prior (see LogPredictionsPrior), so they still reach the logs downstream
// (the parquet log keeps any string).
func (db *DB) LogPredictions(ctx context.Context, recs []tripcast.PredictionRecord) (inserted int, err error) {
	return db.logPredictions(ctx, recs, nil)
}

// LogPredictionsPrior is LogPredictions, and sets prior[i] (len(prior) ==
// len(recs)) to the PredictedAt of the row the log held already for
// recs[i]'s ride_id, model, version and inputs (InputKey) from the same
// source (zero when
// recs[i] is new, or held from another source; a record repeating an
// earlier one of recs counts as held already). It
// costs nothing more while every record is new: the rows already held are
// looked up only when an INSERT skipped some.
func (db *DB) LogPredictionsPrior(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) (inserted int, err error) {
	if len(prior) != len(recs) {
		return 0, tripcast.FieldError("prior", "has %d times for %d records", len(prior), len(recs))
	}
	clear(prior)
	return db.logPredictions(ctx, recs, prior)
}

func (db *DB) logPredictions(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) (inserted int, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	for i := range recs {
		if checkRecord(i, &recs[i]) != nil {
			return db.logValid(ctx, recs, prior)
		}
	}
	if !db.d.arrays {
		if err := db.prepareInserts(ctx); err != nil {
			return 0, fmt.Errorf("log %d predictions: %w", len(recs), err)
		}
	}
	inserted, err = db.insertRange(ctx, recs, 0, len(recs), prior)
	if err != nil {
		return 0, fmt.Errorf("log %d predictions: %w", len(recs), err)
	}
	return inserted, nil
}

// logValid is logPredictions for a batch holding records that cannot be
// logged (an empty ride_id, model or version): those are set aside
// (reject), the others logged.
func (db *DB) logValid(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) (int, error) {
	var (
		valid []tripcast.PredictionRecord
		at    []int // at[j]: the index in recs of valid[j]
	)
	for i := range recs {
		if err := checkRecord(i, &recs[i]); err != nil {
			db.reject(&recs[i], err)
			continue
		}
		valid = append(valid, recs[i])
		at = append(at, i)
	}
	if prior == nil {
		return db.logPredictions(ctx, valid, nil)
	}
	vp := make([]time.Time, len(valid))
	n, err := db.logPredictions(ctx, valid, vp)
	for j, i := range at {
		prior[i] = vp[j]
	}
	return n, err
}

// insertRange stores recs[from:to] in one transaction, or, when the
// database refuses the data of one of them, each half in its own, down to
// single records: the refused ones are set aside (reject). A batch with one
// bad record costs about 2·log2(n) more statements, none when all are good.
func (db *DB) insertRange(ctx context.Context, recs []tripcast.PredictionRecord, from, to int, prior []time.Time) (int, error) {
	n, err := db.insertTx(ctx, recs, from, to, prior)
	if err == nil || !isDataError(err) {
		return n, err
	}
	if to-from == 1 {
		db.reject(&recs[from], err)
		return 0, nil
	}
	mid := from + (to-from)/2
	n1, err := db.insertRange(ctx, recs, from, mid, prior)
	if err != nil {
		return n1, err
	}
	n2, err := db.insertRange(ctx, recs, mid, to, prior)
	return n1 + n2, err
}

// reject sets aside rec, which cannot be stored (err says why).
func (db *DB) reject(rec *tripcast.PredictionRecord, err error) {
	db.rejected.Add(1)
	db.log.Error("prediction log: record set aside (cannot be stored); the others are",
		"ride_id", escape(rec.RideID), "model", escape(rec.Model), "version", escape(rec.Version), "source", escape(rec.Source),
		"predicted_at", rec.PredictedAt, "err", err, "rejected_total", db.rejected.Load())
}

// escape returns s with Go's escapes for control characters, invalid UTF-8
// and non-ASCII (a NUL shows as \x00), for logs.
func escape(s string) string {
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// RejectedPredictions returns how many prediction records the database
// refused since Open (see LogPredictions): a metric to alert on.
func (db *DB) RejectedPredictions() int64 { return db.rejected.Load() }

// isDataError reports whether err is a data exception (SQLSTATE class 22:
// a value the column cannot hold, such as a NUL byte or invalid UTF-8 in a
// PostgreSQL text), which retrying the same record never cures.
func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}

// insertTx stores recs[from:to] in one transaction (see logPredictions),
// setting prior[from:to] when prior is not nil.
func (db *DB) insertTx(ctx context.Context, recs []tripcast.PredictionRecord, from, to int, prior []time.Time) (inserted int, err error) {
	if prior != nil {
		clear(prior[from:to])
	}
	err = inTxOn(ctx, db.logdb, db.d, func(c conn) error {
		inserted = 0
		if c.d.arrays {
			n, err := insertPredictionArrays(ctx, c, recs[from:to])
			inserted = n
			if err == nil && n < to-from && prior != nil {
				err = markPrior(ctx, c, recs, from, to, prior)
			}
			return err
		}
		args := make([]any, 0, min(to-from, predictionChunk)*predictionColCount)
		for off := from; off < to; {
			i := 0
			for insertSizes[i] > to-off {
				i++
			}
			k := insertSizes[i]
			chunk := recs[off : off+k]
			args = args[:0]
			for j := range chunk {
				args = appendPredictionArgs(args, &chunk[j])
			}
			res, err := c.tx.StmtContext(ctx, db.insertStmts[i]).ExecContext(ctx, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			inserted += int(n)
			if int(n) < k && prior != nil {
				if err := markPrior(ctx, c, recs, off, off+k, prior); err != nil {
					return err
				}
			}
			off += k
		}
		return nil
	})
	return inserted, err
}

// markPrior sets prior[i] for the records of recs[from:to] that an INSERT
// skipped, inside its transaction: those whose row, from the same source,
// holds other timestamps (an earlier attempt's) or that repeat an earlier
// record of recs (whose timestamps may be the same: one batch, one clock
// reading).
func markPrior(ctx context.Context, c conn, recs []tripcast.PredictionRecord, from, to int, prior []time.Time) error {
	type key struct {
		ride, model, version string
		input                int64
	}
	type row struct {
		received, predicted int64
		source              string
	}
	ids := make([]any, 0, to-from)
	var q strings.Builder
	q.WriteString("SELECT ride_id, model, version, input_key, received_at, predicted_at, source FROM predictions WHERE ride_id IN (")
	for i := from; i < to; i++ {
		if i > from {
			q.WriteString(", ")
		}
		q.WriteByte('?')
		ids = append(ids, recs[i].RideID)
	}
	q.WriteByte(')')
	rows, err := c.query(ctx, q.String(), ids...)
	if err != nil {
		return fmt.Errorf("look up logged predictions: %w", err)
	}
	held := make(map[key]row, to-from)
	for rows.Next() {
		var k key
		var t row
		if err := rows.Scan(&k.ride, &k.model, &k.version, &k.input, &t.received, &t.predicted, &t.source); err != nil {
			_ = rows.Close()
			return fmt.Errorf("look up logged predictions: %w", err)
		}
		held[k] = t
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up logged predictions: %w", err)
	}
	// first: where each key first appears in recs, to tell a repeat of an
	// earlier record of the call (one pass, not one per record).
	first := make(map[key]int, to)
	for i := range recs[:to] {
		k := key{recs[i].RideID, recs[i].Model, recs[i].Version, recs[i].InputKey()}
		if _, ok := first[k]; !ok {
			first[k] = i
		}
	}
	for i := from; i < to; i++ {
		r := &recs[i]
		k := key{r.RideID, r.Model, r.Version, r.InputKey()}
		t, ok := held[k]
		if !ok || t.source != r.Source {
			// Not held (cannot happen inside the transaction), or held from
			// another source (say, HTTP, which publishes nothing to a
			// stream): new for this one.
			continue
		}
		if first[k] < i || t.received != micros(r.ReceivedAt) || t.predicted != micros(r.PredictedAt) {
			prior[i] = fromMicros(t.predicted)
		}
	}
	return nil
}

// predictionInsert returns the multi-row INSERT of n predictions.
func predictionInsert(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	var b strings.Builder
	b.Grow(64 + len(insertCols) + n*(len(row)+2) + len(conflictKey))
	b.WriteString("INSERT INTO predictions (")
	b.WriteString(insertCols)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(conflictKey)
	return b.String()
}

// pickupMicros returns the stored pickup time: NULL for a zero time.
func pickupMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

// appendPredictionArgs appends rec's parameters in insertCols order.
func appendPredictionArgs(args []any, rec *tripcast.PredictionRecord) []any {
	return append(args, rec.RideID, rec.Model, rec.Version, rec.PULocationID, rec.DOLocationID, rec.TripDistance,
		pickupMicros(rec.PickupTime), rec.Prediction, micros(rec.ReceivedAt), micros(rec.PredictedAt),
		rec.Latency.Microseconds(), rec.Source, rec.RideIDNumeric, rec.InputKey())
}

// insertPredictionArrays inserts recs on PostgreSQL with one statement
// taking each column as an array parameter.
func insertPredictionArrays(ctx context.Context, c conn, recs []tripcast.PredictionRecord) (int, error) {
	n := len(recs)
	var (
		ride, mdl, ver, src = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		pu, do              = make([]int32, n), make([]int32, n)
		dist, pred          = make([]float64, n), make([]float64, n)
		pickup, recv, at    = make([]int64, n), make([]int64, n), make([]int64, n)
		lat, input          = make([]int64, n), make([]int64, n)
		hasPickup, numeric  = make([]bool, n), make([]bool, n)
	)
	for i := range recs {
		r := &recs[i]
		ride[i], mdl[i], ver[i], src[i], numeric[i] = r.RideID, r.Model, r.Version, r.Source, r.RideIDNumeric
		pu[i], do[i] = int32(r.PULocationID), int32(r.DOLocationID)
		dist[i], pred[i] = r.TripDistance, r.Prediction
		if !r.PickupTime.IsZero() {
			pickup[i], hasPickup[i] = micros(r.PickupTime), true
		}
		recv[i], at[i], lat[i] = micros(r.ReceivedAt), micros(r.PredictedAt), r.Latency.Microseconds()
		input[i] = r.InputKey()
	}
	res, err := c.exec(ctx, `INSERT INTO predictions (`+insertCols+`)
		SELECT r, m, v, pu, dl, td, CASE WHEN hp THEN pk END, p, ra, pa, l, s, n, ik
		FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::int[], ?::float8[], ?::bool[], ?::bigint[],
			?::float8[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::bool[], ?::bigint[])
			AS u(r, m, v, pu, dl, td, hp, pk, p, ra, pa, l, s, n, ik)`+conflictKey,
		ride, mdl, ver, pu, do, dist, hasPickup, pickup, pred, recv, at, lat, src, numeric, input)
	if err != nil {
		return 0, err
	}
	got, err := res.RowsAffected()
	return int(got), err
}

// predictionSelect reads the columns scanPrediction expects.
const predictionSelect = `SELECT id, ` + predictionCols + ` FROM predictions`

// scanPrediction scans one row of predictionSelect; extra receives the
// columns a query selects after those.
func scanPrediction(rows *sql.Rows, extra ...any) (StoredPrediction, error) {
	var (
		p                 StoredPrediction
		pickup            sql.NullInt64
		recv, at, latency int64
	)
	r := &p.PredictionRecord
	dest := [...]any{&p.ID, &r.RideID, &r.Model, &r.Version, &r.PULocationID, &r.DOLocationID, &r.TripDistance,
		&pickup, &r.Prediction, &recv, &at, &latency, &r.Source, &r.RideIDNumeric}
	if err := rows.Scan(append(dest[:], extra...)...); err != nil {
		return p, err
	}
	if pickup.Valid {
		r.PickupTime = fromMicros(pickup.Int64)
	}
	r.ReceivedAt, r.PredictedAt, r.Latency = fromMicros(recv), fromMicros(at), time.Duration(latency)*time.Microsecond
	return p, nil
}

// queryPredictions runs a predictionSelect query and collects its rows.
func (db *DB) queryPredictions(ctx context.Context, query string, args ...any) ([]StoredPrediction, error) {
	rows, err := db.plain().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredPrediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetPredictions returns the predictions logged for rideID (one per model
// version that answered it and distinct inputs it was asked with), oldest
// first; none is not an error.
func (db *DB) GetPredictions(ctx context.Context, rideID string) ([]tripcast.PredictionRecord, error) {
	ps, err := db.queryPredictions(ctx, predictionSelect+` WHERE ride_id = ? ORDER BY id`, rideID)
	if err != nil {
		return nil, fmt.Errorf("get predictions of ride %s: %w", rideID, err)
	}
	out := make([]tripcast.PredictionRecord, len(ps))
	for i := range ps {
		out[i] = ps[i].PredictionRecord
	}
	return out, nil
}

// ReadPredictionsAfter returns up to limit log rows with an id above
// afterID, in id order: page through the whole log from afterID 0, passing
// the last ID seen (exporting to parquet, monitoring).
func (db *DB) ReadPredictionsAfter(ctx context.Context, afterID int64, limit int) ([]StoredPrediction, error) {
	if limit <= 0 {
		return nil, tripcast.FieldError("limit", "must be positive, got %d", limit)
	}
	ps, err := db.queryPredictions(ctx, predictionSelect+` WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("read predictions after %d: %w", afterID, err)
	}
	return ps, nil
}

// CountPredictions returns how many logged predictions match f.
func (db *DB) CountPredictions(ctx context.Context, f PredictionFilter) (int64, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, val string }{{"ride_id", f.RideID}, {"model", f.Model}, {"version", f.Version}, {"source", f.Source}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "predicted_at >= ?")
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "predicted_at < ?")
		args = append(args, micros(f.Until))
	}
	q := `SELECT COUNT(*) FROM predictions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var n int64
	if err := db.plain().queryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count predictions: %w", err)
	}
	return n, nil
}

// PredictionLog returns the database as a tripcast.PredictionLog: Log
// writes synchronously (durable when it returns; duplicates skipped),
// Flush has nothing left to do.
func (db *DB) PredictionLog() *SQLPredictionLog { return &SQLPredictionLog{db: db} }

// SQLPredictionLog is the metadata database as a tripcast.PredictionLog
// (see DB.PredictionLog).
type SQLPredictionLog struct{ db *DB }

var _ tripcast.PriorLog = (*SQLPredictionLog)(nil)

// Log stores recs (see DB.LogPredictions): they are durable when it
// returns nil.
func (l *SQLPredictionLog) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	_, err := l.db.LogPredictions(ctx, recs)
	return err
}

// LogNew stores recs like Log and returns how many were not already logged.
func (l *SQLPredictionLog) LogNew(ctx context.Context, recs []tripcast.PredictionRecord) (int, error) {
	return l.db.LogPredictions(ctx, recs)
}

// LogPrior stores recs like Log and tells which the log held already (see
// DB.LogPredictionsPrior).
func (l *SQLPredictionLog) LogPrior(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) error {
	_, err := l.db.LogPredictionsPrior(ctx, recs, prior)
	return err
}

// Flush returns nil: Log already wrote synchronously.
func (l *SQLPredictionLog) Flush(context.Context) error { return nil }
