// Package groundtruth is tripcast's ground truth: it decodes the
// ride_completed events that tell a ride's real duration, stores them
// (tripcast.CompletionStore) from a stream consumer that dead-letters what
// it cannot read, and turns a scored month into joined rows. The join of
// completions to the prediction log happens when it is read
// (tripcast.GroundTruthReader, in the SQL store): a completion is stored
// once, by ride_id, and joins every logged prediction of its ride, by every
// model version, whenever the prediction was logged, before or after.
package groundtruth

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"tripcast"
	"tripcast/serve"
)

// EventType is the "type" a ride_completed event may carry.
const EventType = "ride_completed"

// Decode decodes and validates one ride_completed event:
//
//	{"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}
//
// ride_id is required, a string or a number, read as serve.DecodeEvent
// reads it (RideIDNumeric set for a number), so that a completion joins the
// prediction of the ride event it follows. duration is a JSON number of
// minutes, finite and greater than 0. dropoff_datetime is optional (absent
// or null: a zero Dropoff), a time as serve.ParseTime reads it. type, when
// present, must be "ride_completed". Unknown keys are ignored.
//
// Errors are EINVALID naming the field ("" for JSON that does not parse).
func Decode(data []byte) (tripcast.RideCompleted, error) {
	var ev struct {
		Type     *string         `json:"type"`
		RideID   json.RawMessage `json:"ride_id"`
		Duration json.RawMessage `json:"duration"`
		Dropoff  json.RawMessage `json:"dropoff_datetime"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "type" {
				return tripcast.RideCompleted{}, tripcast.FieldError("type", "must be a string")
			}
			return tripcast.RideCompleted{}, tripcast.Errorf(tripcast.EINVALID, "invalid JSON: must be an object, got %s", te.Value)
		}
		return tripcast.RideCompleted{}, tripcast.Errorf(tripcast.EINVALID, "invalid JSON: %v", err)
	}
	if ev.Type != nil && *ev.Type != EventType {
		return tripcast.RideCompleted{}, tripcast.FieldError("type", "must be %q, got %q", EventType, *ev.Type)
	}
	var rc tripcast.RideCompleted
	var err error
	if len(ev.RideID) == 0 {
		return tripcast.RideCompleted{}, tripcast.FieldError("ride_id", "missing: a completion joins its ride by ride_id")
	}
	if rc.RideID, rc.RideIDNumeric, err = serve.DecodeRideID(ev.RideID); err != nil {
		return tripcast.RideCompleted{}, err
	}
	if rc.RideID == "" {
		return tripcast.RideCompleted{}, tripcast.FieldError("ride_id", "missing: a completion joins its ride by ride_id")
	}
	if rc.Duration, err = duration(ev.Duration); err != nil {
		return tripcast.RideCompleted{}, err
	}
	if len(ev.Dropoff) > 0 && !bytes.Equal(ev.Dropoff, []byte("null")) {
		var s string
		if err := json.Unmarshal(ev.Dropoff, &s); err != nil {
			return tripcast.RideCompleted{}, tripcast.FieldError("dropoff_datetime", "must be a time string, got %s", short(ev.Dropoff))
		}
		if rc.Dropoff, err = serve.ParseTime(s); err != nil {
			return tripcast.RideCompleted{}, tripcast.FieldError("dropoff_datetime", "%v", err)
		}
	}
	return rc, nil
}

// duration reads the duration field: a JSON number of minutes, finite and
// above 0.
func duration(raw json.RawMessage) (float64, error) {
	const field = "duration"
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, tripcast.FieldError(field, "missing")
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, tripcast.FieldError(field, "must be a number of minutes, got %s", short(raw))
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, tripcast.FieldError(field, "number %s out of range", short(raw))
	}
	if x <= 0 {
		return 0, tripcast.FieldError(field, "must be more than 0 minutes, got %s", raw)
	}
	return x, nil
}

// short returns raw cut to 40 bytes for an error message.
func short(raw []byte) []byte {
	if len(raw) > 40 {
		return append(raw[:37:37], "..."...)
	}
	return raw
}
