package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"time"

	"tripcast"
	"tripcast/model"
	"tripcast/monitor"
)

// ReferenceVersion is the version of the reference JSON format.
const ReferenceVersion = 1

// ReferenceName is the name of a version's reference beside its model
// artifact (artifacts/<run id>/reference.json).
const ReferenceName = "reference.json"

// Reference is what a window is compared with: the model inputs and actual
// durations of the training month, the model's predictions on the
// validation month (the prediction column), and the model's validation
// figures, all in count form. It is built once, when the model is trained.
type Reference struct {
	Version int `json:"version"`
	// Source says what the reference was built from (the training and
	// validation data's URIs, a month, a model version).
	Source     string              `json:"source"`
	Profile    *monitor.Profile    `json:"profile"`
	Validation *monitor.Validation `json:"validation,omitempty"`
	// Rows is the number of training (or reference month) rows profiled.
	Rows      int64     `json:"rows"`
	CreatedAt time.Time `json:"created_at"`
}

// NewReference profiles train's model inputs and durations and the
// predictions of a on valid (train when valid is nil or empty), and records
// a's figures on valid as the validation figures. EINVALID when train is
// empty.
func NewReference(a *model.Artifact, train, valid *tripcast.Trips, source string) (*Reference, error) {
	if train == nil || train.Len() == 0 {
		return nil, tripcast.FieldError("train", "no rows to build a reference from")
	}
	if valid == nil || valid.Len() == 0 {
		valid = train
	}
	b, err := monitor.NewBuilder(monitor.TripSpecs(true))
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	for name, col := range monitor.TripColumns(train) {
		if err := b.Add(name, col); err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
	}
	pred := make([]float64, valid.Len())
	if err := a.PredictTrips(valid, pred); err != nil {
		return nil, fmt.Errorf("reference: predict: %w", err)
	}
	if err := b.Add(monitor.ColPrediction, pred); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	ref := &Reference{Version: ReferenceVersion, Source: source, Profile: b.Profile(), Rows: int64(train.Len()), CreatedAt: time.Now().UTC()}
	if len(valid.Duration) == valid.Len() {
		m := model.Evaluate(pred, valid.Duration)
		if v, ok := validation(m); ok {
			ref.Validation = &v
		}
	}
	return ref, nil
}

// validation returns m as validation figures when they are all finite.
func validation(m model.Metrics) (monitor.Validation, bool) {
	v := monitor.Validation{RMSE: m.RMSE, MAE: m.MAE, R2: m.R2}
	return v, m.N > 0 && isFinite(v.RMSE) && isFinite(v.MAE) && isFinite(v.R2)
}

// ReferenceKey returns the blob key of the reference stored beside the
// model artifact at artifactKey.
func ReferenceKey(artifactKey string) string {
	return path.Join(path.Dir(artifactKey), ReferenceName)
}

// DecodeReference reads a reference's JSON and validates it. EINVALID when
// it is malformed.
func DecodeReference(r io.Reader) (*Reference, error) {
	var ref Reference
	if err := json.NewDecoder(r).Decode(&ref); err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "reference: " + err.Error(), Err: err}
	}
	if ref.Version != ReferenceVersion {
		return nil, tripcast.FieldError("version", "reference version %d, want %d", ref.Version, ReferenceVersion)
	}
	if ref.Profile == nil {
		return nil, tripcast.FieldError("profile", "reference has no profile")
	}
	if err := ref.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	return &ref, nil
}

// LoadReference reads the reference stored under key. ENOTFOUND when there
// is none (a version trained before references were stored).
func LoadReference(ctx context.Context, blobs tripcast.BlobStore, key string) (*Reference, error) {
	rc, err := blobs.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open reference %s: %w", blobs.URI(key), err)
	}
	defer rc.Close()
	ref, err := DecodeReference(rc)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", blobs.URI(key), err)
	}
	return ref, nil
}

// MarshalReference returns ref's JSON, as stored.
func MarshalReference(ref *Reference) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(ref); err != nil {
		return nil, fmt.Errorf("encode reference: %w", err)
	}
	return &buf, nil
}
