package sqlstore

import (
	"context"
	"fmt"
	"time"

	"tripcast"
)

// readPage is the most rows ReadPredictions fetches per query: a page is
// read and handed over before the next is asked for, so memory stays flat
// and no statement stays open while the caller works.
const readPage = 5000

// ReadPredictions implements tripcast.PredictionReader on the SQL log: it
// calls fn for each logged record predicted in [q.From, q.To) (matching
// q.Model and q.Version when set), in order of predicted_at then id
// (insertion order), a page of readPage rows at a time (keyset paging on
// (predicted_at, id), so rows logged while it reads never shift a page).
func (db *DB) ReadPredictions(ctx context.Context, q tripcast.PredictionQuery, fn func(*tripcast.PredictionRecord) error) error {
	if err := q.Check(); err != nil {
		return err
	}
	// Stored times are whole microseconds: p >= from ⇔ p >= ceil(from).
	from, to := ceilMicros(q.From), ceilMicros(q.To)
	if from >= to {
		return nil
	}
	where := ` WHERE predicted_at >= ? AND predicted_at < ?`
	args := []any{from, to}
	if q.Model != "" {
		where += ` AND model = ?`
		args = append(args, q.Model)
	}
	if q.Version != "" {
		where += ` AND version = ?`
		args = append(args, q.Version)
	}
	first := predictionSelect + where + ` ORDER BY predicted_at, id LIMIT ?`
	next := predictionSelect + where + ` AND (predicted_at > ? OR (predicted_at = ? AND id > ?)) ORDER BY predicted_at, id LIMIT ?`
	n := len(args)
	query, args := first, append(args, readPage)
	for {
		ps, err := db.queryPredictions(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("read predictions in [%s, %s): %w", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano), err)
		}
		for i := range ps {
			if err := fn(&ps[i].PredictionRecord); err != nil {
				return fmt.Errorf("read predictions: %w", err)
			}
		}
		if len(ps) < readPage {
			return nil
		}
		last := ps[len(ps)-1]
		at := micros(last.PredictedAt)
		// The next page's range starts at the cursor, not at the window's
		// start: otherwise every page rescans the index from the start
		// (quadratic: 26 s for a day of 1.2 M records on SQLite).
		args[0] = at
		query, args = next, append(args[:n], at, at, last.ID, readPage)
	}
}

// ceilMicros returns t in Unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	us := t.Truncate(time.Microsecond)
	if us.Before(t) {
		us = us.Add(time.Microsecond)
	}
	return micros(us)
}
