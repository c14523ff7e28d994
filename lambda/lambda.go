// Package lambda is tripcast's prediction core as an AWS Lambda handler for
// Kinesis events, the course's ride-duration Lambda without its habit of
// answering a made-up 15.0 minutes: each record's data is a ride event,
// decoded and validated by package serve, predicted by the served model,
// logged, and published to the output stream; a record that can never
// succeed goes to the dead-letter stream with its reason; a record that
// failed for a passing reason is reported back to Lambda for a retry.
//
// Run it with aws-lambda-go: lambda.Start(h.Handle). The function's event
// source mapping must enable ReportBatchItemFailures for the retries to be
// per record.
package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"tripcast"
	"tripcast/serve"
)

// Predictor answers one ride; *serve.Predictor is one.
type Predictor interface {
	// Predict answers for r. EUNAVAILABLE means "not now" (no model loaded):
	// the record is retried; any other error means the model can never
	// answer this ride: the record is dead-lettered.
	Predict(ctx context.Context, r tripcast.Ride) (tripcast.Prediction, error)
}

// Options configure a Handler. Every field is optional.
type Options struct {
	// Output receives each prediction on OutputStream, keyed by ride_id.
	// nil: predictions are only returned (the course's TEST_RUN mode).
	Output tripcast.Stream
	// OutputStream is the predictions' stream; "": tripcast.PredictionsStream.
	OutputStream string
	// DeadLetters receives the records that can never succeed on
	// tripcast.DeadLetterStream; nil: Output. When both are nil such records are
	// only counted, logged and listed in Response.Rejected.
	DeadLetters tripcast.Stream
	// DeadLetterStream is the dead letters' stream; "": tripcast.DeadLetterStream.
	DeadLetterStream string
	// Log receives every prediction before it is published; nil: none.
	Log tripcast.PredictionLog
	// Metrics counts records received, predicted, failed, dead-lettered.
	Metrics *serve.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Handler handles Kinesis events. Safe for concurrent use.
type Handler struct {
	pred Predictor
	o    Options
	log  *slog.Logger
}

// New returns a Handler predicting with p.
func New(p Predictor, o Options) (*Handler, error) {
	if p == nil {
		return nil, tripcast.FieldError("predictor", "is missing")
	}
	if o.OutputStream == "" {
		o.OutputStream = tripcast.PredictionsStream
	}
	if o.DeadLetterStream == "" {
		o.DeadLetterStream = tripcast.DeadLetterStream
	}
	if o.DeadLetters == nil {
		o.DeadLetters = o.Output
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{pred: p, o: o, log: o.Logger.With("component", "lambda")}, nil
}

// Response is the handler's answer: the course's {"predictions": [...]}
// together with Lambda's partial batch response (batchItemFailures, read
// from the same JSON object when ReportBatchItemFailures is on).
type Response struct {
	// Predictions are the answers, in the course's format:
	// {"model": ..., "version": ..., "prediction": {"ride_duration": ..., "ride_id": ...}}.
	Predictions []json.RawMessage `json:"predictions"`
	// BatchItemFailures lists the records to retry, by sequence number:
	// the first one that failed for a passing reason (output stream or
	// prediction log unavailable, no model loaded) and every record after
	// it (Lambda retries from the lowest one anyway, and stopping there
	// keeps each key's predictions in order).
	BatchItemFailures []events.KinesisBatchItemFailure `json:"batchItemFailures"`
	// DeadLettered counts the records sent to the dead-letter stream.
	DeadLettered int `json:"deadLettered"`
	// Rejected describes every record that can never succeed (whether or
	// not it could be dead-lettered).
	Rejected []Rejection `json:"rejected,omitempty"`
}

// Rejection is why a record can never get a prediction.
type Rejection struct {
	SequenceNumber string `json:"sequenceNumber"`
	Code           string `json:"code"`            // tripcast error code: invalid, internal...
	Field          string `json:"field,omitempty"` // the offending field, when known
	Reason         string `json:"reason"`
}

// DeadLetter is the message published to the dead-letter stream for a
// record that can never succeed: the reason and the original data (as text
// when it is valid UTF-8, else base64 in DataBase64).
type DeadLetter struct {
	Source         string    `json:"source"` // tripcast.SourceLambda
	Code           string    `json:"code"`
	Field          string    `json:"field,omitempty"`
	Reason         string    `json:"reason"`
	EventSourceARN string    `json:"event_source_arn,omitempty"`
	PartitionKey   string    `json:"partition_key,omitempty"`
	SequenceNumber string    `json:"sequence_number"`
	Data           string    `json:"data,omitempty"`
	DataBase64     []byte    `json:"data_base64,omitempty"`
	At             time.Time `json:"at"`
}

// item is one record's outcome while a batch is handled.
type item struct {
	ride tripcast.Ride
	pred tripcast.Prediction
	at   time.Time // when predicted
	rej  *Rejection
}

// Handle handles one batch of Kinesis records (see Response). It returns an
// error only for a batch it cannot even start on; per-record failures are in
// the response, so one bad record never blocks its shard.
//
// Effects happen in this order, each only for the records before the first
// passing failure: dead letters are published; predictions are logged and
// flushed; predictions are published (with ride_id/version as the message
// ID, so NATS drops a retry's duplicate). A retried batch can therefore
// repeat a dead letter or a log record already written: delivery is at
// least once.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (Response, error) {
	received := h.o.Now()
	n := len(ev.Records)
	resp := Response{Predictions: []json.RawMessage{}, BatchItemFailures: []events.KinesisBatchItemFailure{}}
	m := h.o.Metrics
	if m != nil {
		m.Received.WithLabelValues(tripcast.SourceLambda).Add(float64(n))
	}
	items := make([]item, n)
	failFrom := n // records from failFrom on are retried
	var failErr error
	for i := range ev.Records {
		rec := &ev.Records[i].Kinesis
		ride, err := serve.DecodeEvent(rec.Data)
		if err == nil {
			items[i].ride = ride
			items[i].pred, err = h.pred.Predict(ctx, ride)
			items[i].at = h.o.Now()
		}
		if err == nil {
			continue
		}
		if tripcast.ErrorCode(err) == tripcast.EUNAVAILABLE || ctx.Err() != nil {
			failFrom, failErr = i, fmt.Errorf("predict record %s: %w", rec.SequenceNumber, err)
			break
		}
		items[i].rej = &Rejection{SequenceNumber: rec.SequenceNumber, Code: tripcast.ErrorCode(err),
			Field: tripcast.ErrorField(err), Reason: reason(err)}
	}

	// Dead letters first.
	var dead []tripcast.Message
	firstDead := -1
	for i := range failFrom {
		r := items[i].rej
		if r == nil {
			continue
		}
		resp.Rejected = append(resp.Rejected, *r)
		if h.o.DeadLetters == nil {
			continue
		}
		if firstDead < 0 {
			firstDead = i
		}
		dead = append(dead, h.deadLetter(&ev.Records[i], r, received))
	}
	if len(dead) > 0 {
		if err := h.o.DeadLetters.PublishBatch(ctx, h.o.DeadLetterStream, dead); err != nil {
			failFrom, failErr = firstDead, fmt.Errorf("publish %d dead letters to %s: %w", len(dead), h.o.DeadLetterStream, err)
			resp.Rejected = resp.Rejected[:0]
			for i := range failFrom {
				if r := items[i].rej; r != nil {
					resp.Rejected = append(resp.Rejected, *r)
				}
			}
		} else {
			resp.DeadLettered = len(dead)
		}
	}
	if m != nil {
		for _, r := range resp.Rejected {
			label := r.Field
			if label == "" {
				label = r.Code
			}
			m.Failed.WithLabelValues(tripcast.SourceLambda, r.Code).Inc()
			if h.o.DeadLetters != nil {
				m.DeadLetters.WithLabelValues(tripcast.SourceLambda, label).Inc()
			}
		}
	}
	for _, r := range resp.Rejected {
		h.log.Warn("ride event rejected", "sequence_number", r.SequenceNumber, "code", r.Code, "field", r.Field, "reason", r.Reason)
	}

	// Then the prediction log, then the output stream.
	predicted := func() (idx []int) {
		for i := range failFrom {
			if items[i].rej == nil {
				idx = append(idx, i)
			}
		}
		return idx
	}
	if idx := predicted(); len(idx) > 0 && h.o.Log != nil {
		recs := make([]tripcast.PredictionRecord, len(idx))
		for k, i := range idx {
			recs[k] = tripcast.NewPredictionRecord(items[i].ride, items[i].pred, received, items[i].at, tripcast.SourceLambda)
		}
		err := h.o.Log.Log(ctx, recs)
		if err == nil {
			err = h.o.Log.Flush(ctx)
		}
		if err != nil {
			failFrom, failErr = idx[0], fmt.Errorf("log %d predictions: %w", len(idx), err)
		}
	}
	if idx := predicted(); len(idx) > 0 && h.o.Output != nil {
		msgs := make([]tripcast.Message, len(idx))
		for k, i := range idx {
			p := items[i].pred
			msgs[k] = tripcast.Message{Key: p.RideID, ID: p.RideID + "/" + p.Version, Data: serve.MarshalPrediction(p)}
		}
		if err := h.o.Output.PublishBatch(ctx, h.o.OutputStream, msgs); err != nil {
			failFrom, failErr = idx[0], fmt.Errorf("publish %d predictions to %s: %w", len(idx), h.o.OutputStream, err)
		}
	}
	for _, i := range predicted() {
		resp.Predictions = append(resp.Predictions, serve.MarshalPrediction(items[i].pred))
	}
	if m != nil && len(resp.Predictions) > 0 {
		m.Predicted.WithLabelValues(tripcast.SourceLambda).Add(float64(len(resp.Predictions)))
	}

	for i := failFrom; i < n; i++ {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[i].Kinesis.SequenceNumber})
	}
	if failErr != nil {
		if m != nil {
			m.Failed.WithLabelValues(tripcast.SourceLambda, tripcast.ErrorCode(failErr)).Add(float64(n - failFrom))
		}
		h.log.Error("records left for retry", "records", n-failFrom, "first_sequence_number", ev.Records[failFrom].Kinesis.SequenceNumber, "err", failErr)
	}
	h.log.Info("kinesis batch handled", "records", n, "predicted", len(resp.Predictions),
		"dead_lettered", resp.DeadLettered, "retry", len(resp.BatchItemFailures))
	return resp, nil
}

// reason is the user-facing text of a rejection: the field and the message
// for input errors, "internal error" (with the details logged) otherwise.
func reason(err error) string {
	code := tripcast.ErrorCode(err)
	if code == tripcast.EINTERNAL {
		return "internal error: the model cannot answer this ride"
	}
	msg := tripcast.ErrorMessage(err)
	if f := tripcast.ErrorField(err); f != "" {
		return f + ": " + msg
	}
	return msg
}

// deadLetter builds the dead-letter message of a record.
func (h *Handler) deadLetter(rec *events.KinesisEventRecord, r *Rejection, at time.Time) tripcast.Message {
	dl := DeadLetter{
		Source: tripcast.SourceLambda, Code: r.Code, Field: r.Field, Reason: r.Reason,
		EventSourceARN: rec.EventSourceArn, PartitionKey: rec.Kinesis.PartitionKey,
		SequenceNumber: rec.Kinesis.SequenceNumber, At: at.UTC(),
	}
	if utf8.Valid(rec.Kinesis.Data) {
		dl.Data = string(rec.Kinesis.Data)
	} else {
		dl.DataBase64 = rec.Kinesis.Data
	}
	data, err := json.Marshal(dl)
	if err != nil { // cannot happen: plain strings and bytes
		panic(fmt.Sprintf("lambda: marshal dead letter: %v", err))
	}
	key := rec.Kinesis.PartitionKey
	if key == "" {
		key = rec.Kinesis.SequenceNumber
	}
	return tripcast.Message{Key: key, ID: "dlq/" + rec.EventSourceArn + "/" + rec.Kinesis.SequenceNumber, Data: data}
}

// InvokeJSON handles a Kinesis event given as JSON (the payload Lambda
// sends, or the course's test event) and returns the response as JSON, for
// running the handler outside Lambda. EINVALID when payload is not a
// Kinesis event.
func (h *Handler) InvokeJSON(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "not a Kinesis event (want {\"Records\": [{\"kinesis\": {\"data\": base64}}]})", Err: err}
	}
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("marshal lambda response: %w", err)
	}
	return out, nil
}
