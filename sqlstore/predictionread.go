package sqlstore

import (
	"context"

	"tripcast"
)

// readPage is the most rows ReadPredictions fetches per query: a page is
// read and handed over before the next is asked for, so memory stays flat
// and no statement stays open while the caller works.
const readPage = 5000

// ReadPredictions implements tripcast.PredictionReader on the SQL log: it
// calls fn for each logged record predicted in [q.From, q.To) (matching
// q.Model and q.Version when set), in order of predicted_at then id
// (insertion order), a page of readPage rows at a time (see readWindow).
func (db *DB) ReadPredictions(ctx context.Context, q tripcast.PredictionQuery, fn func(*tripcast.PredictionRecord) error) error {
	return readWindow(ctx, db, q, "predictions", windowSelect, func(*struct{}) []any { return nil },
		func(r *tripcast.PredictionRecord, _ *struct{}) error { return fn(r) })
}
