// Package lambda is tripcast's prediction core as an AWS Lambda handler for
// Kinesis events, the course's ride-duration Lambda without its habit of
// answering a made-up 15.0 minutes. It adapts the Kinesis records to
// stream messages and hands them to serve.BatchHandler, the event-batch
// core the stream consumer runs too: each record's data is a ride event,
// decoded and validated, predicted with one model snapshot, logged and
// published once to the output stream; a record that can never succeed
// goes to the dead-letter stream as a tripcast.DeadLetter. When the batch
// cannot be finished (no model, stream or log down), every record is
// reported back to Lambda for a retry, which duplicates nothing.
//
// Run it with aws-lambda-go: lambda.Start(h.Handle). The function's event
// source mapping must enable ReportBatchItemFailures for the retries to be
// per batch rather than of the whole invocation.
//
// The course's function is configured by environment variables, which
// ReadEnv reads (PREDICTIONS_STREAM_NAME, TEST_RUN, RUN_ID, MODEL_LOCATION,
// KINESIS_ENDPOINT_URL, AWS_DEFAULT_REGION). The model is chosen by these
// rules, in order:
//  1. MODEL_LOCATION set: that file (a local path, or s3://bucket/key read
//     through the blob store) is loaded with LoadModel, whatever the
//     registry holds, and no metadata database is needed; the predictions
//     report RUN_ID as version, or "sha256:" and 12 hex digits of the file
//     without RUN_ID.
//  2. RUN_ID set (without MODEL_LOCATION): the newest registered version
//     whose training run is RUN_ID, loaded with LoadRunModel and reported
//     as version RUN_ID; when the registry has none, an ENOTFOUND error
//     naming RUN_ID (and MODEL_LOCATION, the other way to give a model).
//  3. Neither: the registry's champion, followed as every server does.
package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"tripcast"
	"tripcast/serve"
)

// Options configure a Handler. Every field is optional.
type Options struct {
	// Output receives each prediction on OutputStream, keyed by ride_id,
	// and each dead letter on DeadLetterStream. nil: predictions are only
	// returned and dead letters only listed (the course's TEST_RUN mode).
	Output tripcast.Stream
	// OutputStream is the predictions' stream; "": tripcast.PredictionsStream.
	OutputStream string
	// DeadLetterStream is the dead letters' stream; "": tripcast.DeadLetterStream.
	DeadLetterStream string
	// Log receives every prediction before it is published; nil: none.
	// A tripcast.PriorLog (the SQL log) with an Output that can be read
	// back (tripcast.Scanner) makes a retried batch publish nothing twice.
	Log    tripcast.PredictionLog
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler handles Kinesis events. Safe for concurrent use.
type Handler struct {
	core *serve.BatchHandler
	log  *slog.Logger
}

// New returns a Handler predicting with p. EINVALID when p is nil.
func New(p *serve.Predictor, o Options) (*Handler, error) {
	if p == nil {
		return nil, tripcast.FieldError("predictor", "is missing")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("component", "lambda")
	core, err := serve.NewBatchHandler(serve.BatchConfig{Output: o.OutputStream, DeadLetter: o.DeadLetterStream,
		Source: tripcast.SourceLambda, Logger: log, Now: o.Now}, p, o.Output, o.Log)
	if err != nil {
		return nil, err
	}
	return &Handler{core: core, log: log}, nil
}

// Response is the handler's answer: the course's {"predictions": [...]}
// together with Lambda's partial batch response (batchItemFailures, read
// from the same JSON object when ReportBatchItemFailures is on). Only
// predictions is always there: the other keys are left out when empty or
// zero, so a batch that was all predicted answers exactly the course's
// {"predictions": [...]} (Lambda reads an absent batchItemFailures as
// success).
type Response struct {
	// Predictions are the answers, in the course's format:
	// {"model": ..., "version": ..., "prediction": {"ride_duration": ..., "ride_id": ...}}.
	Predictions []json.RawMessage `json:"predictions"`
	// BatchItemFailures lists the records to retry, by sequence number:
	// empty when the batch was handled, every record when it could not be
	// finished (no model loaded, output stream or prediction log
	// unavailable); the retry then repeats nothing already done.
	BatchItemFailures []events.KinesisBatchItemFailure `json:"batchItemFailures,omitempty"`
	// DeadLettered counts the records sent to the dead-letter stream.
	DeadLettered int `json:"deadLettered,omitempty"`
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

// Messages adapts Kinesis records to stream messages: Stream is the stream
// name of the record's ARN, ID its sequence number (so a ride event
// without a ride_id gets the ride_id "<stream>:<sequence number>", the same
// on every retry), Key its partition key. Delivered is 0: Lambda does not
// tell how many times it delivered a record.
func Messages(ev events.KinesisEvent) []tripcast.Message {
	msgs := make([]tripcast.Message, len(ev.Records))
	for i := range ev.Records {
		r := &ev.Records[i]
		msgs[i] = tripcast.Message{Stream: streamName(r.EventSourceArn), Key: r.Kinesis.PartitionKey,
			Data: r.Kinesis.Data, ID: r.Kinesis.SequenceNumber, Stored: r.Kinesis.ApproximateArrivalTimestamp.Time}
	}
	return msgs
}

// streamName is the stream name in a Kinesis stream ARN
// (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME), or "kinesis" without one.
func streamName(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && i+1 < len(arn) {
		return arn[i+1:]
	}
	return tripcast.SourceKinesis
}

// Handle handles one batch of Kinesis records with serve.BatchHandler (see
// Response). It returns an error only for a batch it cannot even start on;
// a batch that cannot be finished is returned whole in BatchItemFailures,
// so one bad record never blocks its shard and a passing failure loses
// nothing.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (Response, error) {
	resp := Response{Predictions: []json.RawMessage{}, BatchItemFailures: []events.KinesisBatchItemFailure{}}
	res := serve.BatchResult{KeepItems: true}
	if err := h.core.Handle(ctx, Messages(ev), &res); err != nil {
		for i := range ev.Records {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[i].Kinesis.SequenceNumber})
		}
		h.log.Error("records left for retry", "records", len(ev.Records), "err", err)
		return resp, nil
	}
	for _, it := range res.Items {
		if it.Dead == nil {
			resp.Predictions = append(resp.Predictions, it.Prediction)
			continue
		}
		d := it.Dead
		r := Rejection{SequenceNumber: d.StreamID, Code: d.Code, Field: d.Field, Reason: d.Reason}
		if d.Field != "" {
			r.Reason = d.Field + ": " + d.Reason
		}
		resp.Rejected = append(resp.Rejected, r)
		h.log.Warn("ride event rejected", "sequence_number", r.SequenceNumber, "code", r.Code, "field", r.Field, "reason", r.Reason)
	}
	resp.DeadLettered = res.DeadLettered
	h.log.Info("kinesis batch handled", "records", len(ev.Records), "predicted", len(resp.Predictions),
		"dead_lettered", resp.DeadLettered, "already_published", res.AlreadyPublished)
	return resp, nil
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
