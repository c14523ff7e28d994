package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"tripcast"
)

// Ground truth: completions are stored once per ride_id in
// ride_completions and joined to the prediction log when read (ReadJoined),
// so a prediction logged after its completion, or by a second model
// version, joins as well as one logged before: nothing is pending.

var (
	_ tripcast.CompletionStore   = (*DB)(nil)
	_ tripcast.GroundTruthReader = (*DB)(nil)
)

// completionChunk is the most completions per INSERT (7 parameters each),
// and of ride_ids per IN list.
const completionChunk = 200

// AddCompletions implements tripcast.CompletionStore: INSERT … ON CONFLICT
// (ride_id) DO NOTHING, in one transaction; added[i] is set for the records
// inserted.
func (db *DB) AddCompletions(ctx context.Context, recs []tripcast.Completion, added []bool) error {
	if len(added) != len(recs) {
		panic(fmt.Sprintf("sqlstore: AddCompletions: %d flags for %d records", len(added), len(recs)))
	}
	clear(added)
	for i := range recs {
		if recs[i].RideID == "" {
			return tripcast.FieldError("ride_id", "completion %d has none", i)
		}
	}
	err := db.inTx(ctx, func(c conn) error {
		for from := 0; from < len(recs); from += completionChunk {
			to := min(from+completionChunk, len(recs))
			var q strings.Builder
			q.WriteString(`INSERT INTO ride_completions (ride_id, ride_id_numeric, duration, dropoff_at, received_at, stream, stream_id) VALUES `)
			args := make([]any, 0, 7*(to-from))
			for i := from; i < to; i++ {
				if i > from {
					q.WriteByte(',')
				}
				q.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
				r := &recs[i]
				var dropoff any
				if !r.Dropoff.IsZero() {
					dropoff = micros(r.Dropoff)
				}
				args = append(args, r.RideID, r.RideIDNumeric, r.Duration, dropoff, micros(r.ReceivedAt), r.Stream, r.StreamID)
			}
			q.WriteString(` ON CONFLICT (ride_id) DO NOTHING RETURNING ride_id`)
			ids, err := queryStrings(ctx, c, q.String(), args...)
			if err != nil {
				return fmt.Errorf("store %d completions: %w", to-from, err)
			}
			// A ride_id inserted by this statement is its first record with
			// that ride_id (later ones in the same statement conflict).
			seen := make(map[string]bool, len(ids))
			for _, id := range ids {
				seen[id] = true
			}
			for i := from; i < to; i++ {
				if seen[recs[i].RideID] {
					added[i] = true
					delete(seen, recs[i].RideID)
				}
			}
		}
		return nil
	})
	if err != nil {
		clear(added)
		return err
	}
	return nil
}

// PredictedRides implements tripcast.CompletionStore.
func (db *DB) PredictedRides(ctx context.Context, ids []string, found []bool) error {
	if len(found) != len(ids) {
		panic(fmt.Sprintf("sqlstore: PredictedRides: %d flags for %d ride_ids", len(found), len(ids)))
	}
	clear(found)
	for from := 0; from < len(ids); from += completionChunk {
		to := min(from+completionChunk, len(ids))
		args := make([]any, to-from)
		for i := range args {
			args[i] = ids[from+i]
		}
		got, err := queryStrings(ctx, db.plain(), `SELECT DISTINCT ride_id FROM predictions WHERE ride_id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", to-from), ",")+`)`, args...)
		if err != nil {
			return fmt.Errorf("look up %d ride_ids in the prediction log: %w", to-from, err)
		}
		known := make(map[string]bool, len(got))
		for _, id := range got {
			known[id] = true
		}
		for i := from; i < to; i++ {
			found[i] = known[ids[i]]
		}
	}
	return nil
}

// queryStrings runs a query returning one text column and collects it.
func queryStrings(ctx context.Context, c conn, query string, args ...any) ([]string, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// GetCompletion returns the completion stored for rideID; ENOTFOUND when
// there is none.
func (db *DB) GetCompletion(ctx context.Context, rideID string) (tripcast.Completion, error) {
	var (
		c        tripcast.Completion
		dropoff  sql.NullInt64
		received int64
	)
	err := db.plain().queryRow(ctx, `SELECT ride_id, ride_id_numeric, duration, dropoff_at, received_at, stream, stream_id
		FROM ride_completions WHERE ride_id = ?`, rideID).
		Scan(&c.RideID, &c.RideIDNumeric, &c.Duration, &dropoff, &received, &c.Stream, &c.StreamID)
	if err != nil {
		return c, notFound(err, "no completion of ride %q", rideID)
	}
	if dropoff.Valid {
		c.Dropoff = fromMicros(dropoff.Int64)
	}
	c.ReceivedAt = fromMicros(received)
	return c, nil
}

// CompletionCounts counts the completions read in a window.
type CompletionCounts struct {
	Completions int64 `json:"completions"` // stored completions
	// Unmatched counts those whose ride the prediction log does not know
	// (yet: a prediction logged later matches it).
	Unmatched int64 `json:"unmatched"`
}

// CountCompletions counts the completions received in [from, to).
func (db *DB) CountCompletions(ctx context.Context, from, to time.Time) (CompletionCounts, error) {
	var n CompletionCounts
	err := db.plain().queryRow(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM predictions p WHERE p.ride_id = c.ride_id) THEN 1 ELSE 0 END), 0)
		FROM ride_completions c WHERE c.received_at >= ? AND c.received_at < ?`, ceilMicros(from), ceilMicros(to)).
		Scan(&n.Completions, &n.Unmatched)
	if err != nil {
		return n, fmt.Errorf("count completions: %w", err)
	}
	return n, nil
}

// joinedSelect reads scanPrediction's columns of a prediction, then the
// actual duration of its ride's completion.
var joinedSelect = strings.Replace(windowSelect, "FROM predictions p",
	", c.duration FROM predictions p JOIN ride_completions c ON c.ride_id = p.ride_id", 1)

// ReadJoined implements tripcast.GroundTruthReader: the logged predictions
// of q's window (by predicted_at, model and version) whose ride has a
// completion, with its duration, in order of predicted_at then id, a page
// of readPage rows at a time (see readWindow).
func (db *DB) ReadJoined(ctx context.Context, q tripcast.PredictionQuery, fn func(rec *tripcast.PredictionRecord, actualMinutes float64) error) error {
	return readWindow(ctx, db, q, "ground truth", joinedSelect, func(actual *float64) []any { return []any{actual} },
		func(r *tripcast.PredictionRecord, actual *float64) error { return fn(r, *actual) })
}
