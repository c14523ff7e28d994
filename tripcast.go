// Package tripcast is the vocabulary of the tripcast MLOps platform: the
// domain types (trips, rides, predictions) and the error type shared by every
// other package. It imports no database, network or cloud code.
package tripcast

import (
	"runtime/debug"
	"time"
)

// DefaultModelName is the registered model name used when none is given,
// the name the MLOps course used.
const DefaultModelName = "ride_duration_prediction_model"

// Trips is a columnar batch of TLC trip records. Every slice has Len()
// elements; a null value is NaN for float columns and 0 for location IDs.
// Times are wall-clock New York times stored as Unix microseconds of the same
// wall clock in UTC (the TLC files carry no time zone).
type Trips struct {
	Pickup         []int64   // pickup time, Unix microseconds (wall clock)
	Dropoff        []int64   // dropoff time, Unix microseconds (wall clock)
	PULocationID   []int32   // pickup taxi zone, 1..265
	DOLocationID   []int32   // dropoff taxi zone, 1..265
	TripDistance   []float64 // miles
	PassengerCount []float64 // NaN when null
	FareAmount     []float64 // dollars, NaN when null
	TotalAmount    []float64 // dollars, NaN when null
	Duration       []float64 // minutes, dropoff - pickup
}

// Len returns the number of trips in the batch.
func (t *Trips) Len() int { return len(t.PULocationID) }

// PickupTime returns the pickup time of trip i as a UTC time.Time holding the
// New York wall clock.
func (t *Trips) PickupTime(i int) time.Time { return time.UnixMicro(t.Pickup[i]).UTC() }

// Ride is what is known about a trip when it starts: the input of a
// prediction.
type Ride struct {
	ID           string    // ride_id, as given by the producer (its text for a number)
	IDNumeric    bool      // ride_id was a JSON number: answers echo it as one
	PULocationID int       // pickup taxi zone, 1..265
	DOLocationID int       // dropoff taxi zone, 1..265
	TripDistance float64   // miles
	PickupTime   time.Time // zero when unknown
}

// Prediction is a model's answer for one ride.
type Prediction struct {
	RideID        string
	RideIDNumeric bool    // ride_id was a JSON number: answers echo it as one
	Model         string  // registered model name
	Version       string  // model version that answered
	RideDuration  float64 // minutes
}

// buildVersion is the release version, set at link time:
// go build -ldflags "-X tripcast.buildVersion=v1.2.3" (make release).
var buildVersion string

// Version returns tripcast's version (the link-time release version, else
// the module version) and VCS revision from the build information, or
// "(devel)" and "" when unknown.
func Version() (version, revision string) {
	version = "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if buildVersion != "" {
		version = buildVersion
	}
	if !ok {
		return version, ""
	}
	if bi.Main.Version != "" && buildVersion == "" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

// Select returns a new batch holding the trips at positions idx, in that
// order. Columns that are nil in t stay nil.
func (t *Trips) Select(idx []int) *Trips {
	return &Trips{
		Pickup:         pick(t.Pickup, idx),
		Dropoff:        pick(t.Dropoff, idx),
		PULocationID:   pick(t.PULocationID, idx),
		DOLocationID:   pick(t.DOLocationID, idx),
		TripDistance:   pick(t.TripDistance, idx),
		PassengerCount: pick(t.PassengerCount, idx),
		FareAmount:     pick(t.FareAmount, idx),
		TotalAmount:    pick(t.TotalAmount, idx),
		Duration:       pick(t.Duration, idx),
	}
}

func pick[T any](src []T, idx []int) []T {
	if src == nil {
		return nil
	}
	out := make([]T, len(idx))
	for j, i := range idx {
		out[j] = src[i]
	}
	return out
}
