package tripcast

import (
	"encoding/json"
	"time"
)

// Stream names: the streams of the system tripcast replaces, used by every
// producer and consumer unless configured otherwise.
const (
	// RideEventsStream carries ride events (the input of predictions).
	RideEventsStream = "ride_events"
	// PredictionsStream carries predictions in the course's answer format.
	PredictionsStream = "ride_predictions"
	// DeadLetterStream carries a DeadLetter for every event that can never
	// get a prediction, whichever adapter read it.
	DeadLetterStream = "ride_events_dlq"
	// RideCompletedStream carries RideCompleted events (ground truth).
	RideCompletedStream = "ride_completed"
)

// ChampionAlias is the registry alias that serving follows.
const ChampionAlias = "champion"

// DeadLetter is the one record written to DeadLetterStream for an event that
// got no prediction, by every producer of dead letters (the stream consumer
// on NATS or Kinesis, the Lambda handler). It is encoded as JSON with the
// names in the tags; docs/streams.md documents it.
//
// A dead letter always fits in a stream message: the original event is kept
// byte for byte in Event when it is valid JSON of at most MaxDeadLetterEvent
// bytes; otherwise EventBase64 holds its first MaxDeadLetterEvent bytes,
// and EventSize and EventSHA256 describe the whole event.
type DeadLetter struct {
	Reason    string    `json:"reason"`          // why, for people: "missing", "must be in 1..265, got 0"…
	Field     string    `json:"field,omitempty"` // the offending field, when there is one
	Code      string    `json:"code"`            // the tripcast error code: invalid, internal, unavailable
	Source    string    `json:"source"`          // who read the event: one of the Source* constants
	Stream    string    `json:"stream"`          // the input stream's name (for Lambda: the name in the ARN)
	StreamID  string    `json:"stream_id"`       // the event's position there (Message.ID)
	Key       string    `json:"key,omitempty"`   // the event's key (partition key)
	Delivered int       `json:"delivered"`       // delivery attempts when it was given up
	At        time.Time `json:"at"`              // when it was dead-lettered
	// Event is the original event when it is valid JSON and small enough.
	Event json.RawMessage `json:"event,omitempty"`
	// EventBase64 holds the event's first MaxDeadLetterEvent bytes when
	// Event cannot hold it (not JSON, or too large).
	EventBase64 []byte `json:"event_base64,omitempty"`
	// EventSize is the original event's size in bytes.
	EventSize int `json:"event_size"`
	// EventSHA256 is the hex sha256 of the whole original event.
	EventSHA256 string `json:"event_sha256"`
	// EventTruncated is true when EventBase64 holds only a prefix.
	EventTruncated bool `json:"event_truncated,omitempty"`
}

// MaxDeadLetterEvent bounds the bytes of the original event kept in a
// DeadLetter, so that a dead letter always fits the engines' message limits
// (1 MiB on NATS and Kinesis) whatever arrived.
const MaxDeadLetterEvent = 64 << 10

// RideCompleted is the ground truth of a ride, sent on RideCompletedStream
// when it ends:
//
//	{"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}
//
// duration is in minutes; ride_id has the JSON type the ride event had.
type RideCompleted struct {
	RideID        string    // ride_id as given (its text for a number)
	RideIDNumeric bool      // ride_id was a JSON number
	Duration      float64   // minutes
	Dropoff       time.Time // dropoff time, wall clock; zero when unknown
}
