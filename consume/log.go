package consume

import (
	"context"
	"fmt"
	"time"

	"tripcast"
)

// Tee returns a prediction log that writes every record to durable and to
// each of buffered, but whose Flush flushes only durable: the consumer acks
// a batch once durable holds it, and the buffered logs (the parquet writer)
// write files at their own pace, in large files rather than one per batch.
//
// The trade-off: records still buffered when the process dies are missing
// from the buffered logs (never from durable, the SQL log, from which they
// can be exported again). Use predlog.Multi instead to flush every log
// before each ack.
//
// When durable is a tripcast.PriorLog, so is the tee: the buffered logs
// then get only the records durable did not hold already.
func Tee(durable tripcast.PredictionLog, buffered ...tripcast.PredictionLog) tripcast.PredictionLog {
	t := tee{durable: durable, buffered: buffered}
	if p, ok := durable.(tripcast.PriorLog); ok {
		return priorTee{tee: t, prior: p}
	}
	return t
}

type tee struct {
	durable  tripcast.PredictionLog
	buffered []tripcast.PredictionLog
}

// Log writes recs to the durable log, then hands them to the buffered
// ones; a buffered log refusing them (its buffer is full because its
// writes keep failing) fails the call, so the batch is retried later.
func (t tee) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if err := t.durable.Log(ctx, recs); err != nil {
		return err
	}
	for _, l := range t.buffered {
		if err := l.Log(ctx, recs); err != nil {
			return fmt.Errorf("buffered prediction log: %w", err)
		}
	}
	return nil
}

// Flush flushes the durable log only.
func (t tee) Flush(ctx context.Context) error { return t.durable.Flush(ctx) }

// priorTee is a tee whose durable log tells which records it held.
type priorTee struct {
	tee
	prior tripcast.PriorLog
}

// LogPrior writes recs to the durable log, then hands the new ones to the
// buffered logs.
func (t priorTee) LogPrior(ctx context.Context, recs []tripcast.PredictionRecord, prior []time.Time) error {
	if err := t.prior.LogPrior(ctx, recs, prior); err != nil {
		return err
	}
	fresh := tripcast.NewRecords(recs, prior)
	for _, l := range t.buffered {
		if err := l.Log(ctx, fresh); err != nil {
			return fmt.Errorf("buffered prediction log: %w", err)
		}
	}
	return nil
}
