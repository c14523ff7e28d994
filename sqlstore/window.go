package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tripcast"
)

// windowSelect selects scanPrediction's columns from predictions aliased
// p, for queries that join other tables to it.
var windowSelect = `SELECT p.id, p.` + strings.Join(strings.Fields(strings.ReplaceAll(predictionCols, ",", " ")), ", p.") +
	` FROM predictions p`

// readWindow calls fn for each row of sel (windowSelect, optionally with
// more columns and joins) predicted in q's window [q.From, q.To) and
// matching q.Model and q.Version, in order of predicted_at then id
// (insertion order), a page of readPage rows at a time: a page is read and
// handed over before the next is asked for, so memory stays flat and no
// statement stays open while the caller works (keyset paging on
// (predicted_at, id), so rows logged while it reads never shift a page).
// dest returns where the columns sel selects after scanPrediction's go;
// what names the rows in errors.
func readWindow[T any](ctx context.Context, db *DB, q tripcast.PredictionQuery, what, sel string, dest func(*T) []any,
	fn func(*tripcast.PredictionRecord, *T) error) error {
	if err := q.Check(); err != nil {
		return err
	}
	// Stored times are whole microseconds: p >= from ⇔ p >= ceil(from).
	from, to := ceilMicros(q.From), ceilMicros(q.To)
	if from >= to {
		return nil
	}
	where := ` WHERE p.predicted_at >= ? AND p.predicted_at < ?`
	args := []any{from, to}
	if q.Model != "" {
		where += ` AND p.model = ?`
		args = append(args, q.Model)
	}
	if q.Version != "" {
		where += ` AND p.version = ?`
		args = append(args, q.Version)
	}
	first := sel + where + ` ORDER BY p.predicted_at, p.id LIMIT ?`
	next := sel + where + ` AND (p.predicted_at > ? OR (p.predicted_at = ? AND p.id > ?)) ORDER BY p.predicted_at, p.id LIMIT ?`
	n := len(args)
	query, args := first, append(args, readPage)
	type row struct {
		p StoredPrediction
		x T
	}
	var page []row
	for {
		page = page[:0]
		err := func() error {
			rows, err := db.plain().query(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				page = append(page, row{})
				r := &page[len(page)-1]
				if r.p, err = scanPrediction(rows, dest(&r.x)...); err != nil {
					return err
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("read %s in [%s, %s): %w", what, q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano), err)
		}
		for i := range page {
			if err := fn(&page[i].p.PredictionRecord, &page[i].x); err != nil {
				return fmt.Errorf("read %s: %w", what, err)
			}
		}
		if len(page) < readPage {
			return nil
		}
		last := page[len(page)-1].p
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
