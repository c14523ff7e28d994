package tripcast

import (
	"context"
	"math"
	"time"
)

// Model is one loaded, verified model version: the artifact's predictor
// together with its feature spec. Implementations must be safe for
// concurrent use and must not change after loading (a new version is a new
// Model).
type Model interface {
	// Predict returns the predicted trip duration in minutes. An error (or
	// a NaN or infinite result, which callers treat as an error) means "no
	// answer": never a made-up default.
	Predict(r Ride) (float64, error)
	// Name returns the registered model name, such as DefaultModelName.
	Name() string
	// Version returns the registered version, such as "3".
	Version() string
}

// FeatureSpecVersioner is implemented by a Model that knows the version of
// the feature spec it was trained with; serving shows it when present.
type FeatureSpecVersioner interface {
	FeatureSpecVersion() string
}

// ModelSource tells serving which model version to serve and loads it,
// typically from the registry's champion alias and the blob store.
type ModelSource interface {
	// Champion returns the version the champion alias points at now. It must
	// be cheap (one registry read): serving polls it. ENOTFOUND when the
	// alias is not set; EUNAVAILABLE when the registry cannot be reached.
	Champion(ctx context.Context) (version string, err error)
	// Load loads and verifies (sha256) one version. EINVALID or EINTERNAL
	// when the artifact fails verification or cannot be decoded; ENOTFOUND
	// when the version does not exist.
	Load(ctx context.Context, version string) (Model, error)
}

// Prediction sources: where the ride event came from.
const (
	SourceHTTP    = "http"
	SourceNATS    = "nats"
	SourceKinesis = "kinesis"
	SourceLambda  = "lambda"
	SourceBatch   = "batch"
)

// PredictionRecord is one line of the prediction log: the ride's features,
// the answer, who answered, and when.
type PredictionRecord struct {
	RideID        string
	RideIDNumeric bool   // ride_id was a JSON number
	Model         string // registered model name
	Version       string // model version that answered
	PULocationID  int
	DOLocationID  int
	TripDistance  float64   // miles
	PickupTime    time.Time // zero when the event carried none
	Prediction    float64   // minutes
	ReceivedAt    time.Time // when the event reached tripcast
	PredictedAt   time.Time // when the model answered
	Latency       time.Duration
	Source        string // one of the Source* constants
}

// NewPredictionRecord assembles the log record of ride r answered by p.
// Latency is predictedAt - receivedAt.
func NewPredictionRecord(r Ride, p Prediction, receivedAt, predictedAt time.Time, source string) PredictionRecord {
	return PredictionRecord{
		RideID:        r.ID,
		RideIDNumeric: r.IDNumeric,
		Model:         p.Model,
		Version:       p.Version,
		PULocationID:  r.PULocationID,
		DOLocationID:  r.DOLocationID,
		TripDistance:  r.TripDistance,
		PickupTime:    r.PickupTime,
		Prediction:    p.RideDuration,
		ReceivedAt:    receivedAt,
		PredictedAt:   predictedAt,
		Latency:       predictedAt.Sub(receivedAt),
		Source:        source,
	}
}

// Ride returns the ride the record was predicted for.
func (r *PredictionRecord) Ride() Ride {
	return Ride{ID: r.RideID, IDNumeric: r.RideIDNumeric, PULocationID: r.PULocationID, DOLocationID: r.DOLocationID,
		TripDistance: r.TripDistance, PickupTime: r.PickupTime}
}

// InputKey returns a 64-bit hash (FNV-1a) of the record's inputs: the
// pickup and drop-off zones, trip_distance's bits and the pickup time in
// Unix microseconds (0 when unknown). Two records of one ride_id, model and
// version with the same InputKey answered the same question (a repeat);
// with different ones, a producer reused the ride_id for another ride. It
// is never 0: the SQL prediction log keeps 0 for rows logged before it
// existed ("inputs not recorded", equal to no record's key).
func (r *PredictionRecord) InputKey() int64 {
	var pickup int64
	if !r.PickupTime.IsZero() {
		pickup = r.PickupTime.UnixMicro()
	}
	h := uint64(14695981039346656037) // FNV-1a offset basis
	for _, v := range [4]uint64{uint64(int64(r.PULocationID)), uint64(int64(r.DOLocationID)), math.Float64bits(r.TripDistance), uint64(pickup)} {
		for range 8 {
			h ^= v & 0xff
			h *= 1099511628211 // FNV prime
			v >>= 8
		}
	}
	if h == 0 {
		h = 1
	}
	return int64(h)
}

// PredictionLog keeps every prediction made (a parquet log in the blob store,
// a table in the metadata database, or both).
type PredictionLog interface {
	// Log hands records to the log. It may buffer them and return before
	// they are durable; EUNAVAILABLE when the log cannot take more (its
	// buffer is full because writes keep failing).
	Log(ctx context.Context, recs []PredictionRecord) error
	// Flush returns nil only once every record handed to Log before the
	// call is durably stored. A stream consumer calls it before
	// acknowledging a batch.
	Flush(ctx context.Context) error
}

// LogChecker is implemented by a PredictionLog that can tell whether its
// writes succeed, for readiness. The guarantee of a buffered log (predlog's
// Writer) is bounded, not durable: an answer is returned before its record
// is stored, at most MaxPending records wait in memory, and beyond that
// Log refuses (EUNAVAILABLE: the HTTP API answers 503). CheckLog lets
// readiness turn red as soon as writes fail, so that a load balancer sends
// traffic elsewhere long before the bound is reached.
type LogChecker interface {
	// CheckLog returns nil while the log's writes succeed, else an
	// EUNAVAILABLE error saying what failed, since when, and how many
	// records wait in memory. It does no I/O.
	CheckLog() error
}

// PriorLog is a PredictionLog that tells which records it held already.
// A stream consumer publishes the new predictions at once and looks for the
// others in its output stream first: a redelivered event was logged by an
// earlier attempt, which may or may not have published it. Idempotency thus
// costs nothing per event (no duplicate-detection window in the broker).
type PriorLog interface {
	PredictionLog
	// LogPrior is Log, and for each record it sets prior[i] (len(prior) ==
	// len(recs)) to the PredictedAt of the record the log held already for
	// recs[i]'s ride_id, model, version and inputs (InputKey) from the same
	// Source, or to the
	// zero time when recs[i] is new (or held from another source: an HTTP
	// prediction of the ride does not stop the stream from publishing
	// one). A record repeating an earlier one of recs counts as held
	// already. Only records with a zero prior reach logs downstream of it.
	LogPrior(ctx context.Context, recs []PredictionRecord, prior []time.Time) error
}

// NewRecords returns the records of recs whose prior time (see PriorLog) is
// zero: recs itself when all are, else a new slice.
func NewRecords(recs []PredictionRecord, prior []time.Time) []PredictionRecord {
	for i := range prior {
		if prior[i].IsZero() {
			continue
		}
		fresh := append(make([]PredictionRecord, 0, len(recs)), recs[:i]...)
		for j := i + 1; j < len(recs); j++ {
			if prior[j].IsZero() {
				fresh = append(fresh, recs[j])
			}
		}
		return fresh
	}
	return recs
}
