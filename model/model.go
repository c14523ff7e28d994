// Package model is a trained tripcast model as one artifact: the predictor
// (gradient-boosted trees or the linear baseline), the feature spec it was
// trained with, its parameters and its metrics. A gbdt artifact is an
// XGBoost JSON model whose learner attributes carry tripcast's metadata, so
// XGBoost loads it as is; a linear artifact is tripcast's own JSON.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"tripcast"
	"tripcast/features"
	"tripcast/gbdt"
	"tripcast/internal/atomicfile"
	"tripcast/linear"
)

// Kind names the learner inside an artifact.
type Kind string

// The learners tripcast trains.
const (
	GBDT   Kind = "gbdt"
	Linear Kind = "linear"
)

// Attribute keys under which a gbdt artifact keeps tripcast's metadata in the
// XGBoost learner attributes (a string → string map XGBoost preserves).
const (
	attrKind    = "tripcast_kind"
	attrSpec    = "tripcast_feature_spec"
	attrMetrics = "tripcast_metrics"
	attrParams  = "tripcast_params"
)

// Artifact is a trained model with everything needed to serve it.
type Artifact struct {
	Kind    Kind
	Spec    *features.Spec     // nil for a foreign XGBoost model and for linear
	Metrics map[string]float64 // e.g. valid_rmse
	Params  map[string]string  // training parameters
	GBDT    *gbdt.Model        // set when Kind == GBDT
	Linear  *linear.Model      // set when Kind == Linear

	name, version string // registry identity, set by SetIdentity
}

// SetIdentity records the registered model name and version this artifact
// was loaded as; Name and Version report them.
func (a *Artifact) SetIdentity(name, version string) { a.name, a.version = name, version }

// Name returns the registered model name, or tripcast.DefaultModelName.
func (a *Artifact) Name() string {
	if a.name == "" {
		return tripcast.DefaultModelName
	}
	return a.name
}

// Version returns the registered version, or "" for an unregistered file.
func (a *Artifact) Version() string { return a.version }

// FeatureNames returns the names of the model's input columns.
func (a *Artifact) FeatureNames() []string {
	switch {
	case a.Spec != nil:
		return a.Spec.Names()
	case a.Kind == GBDT:
		return a.GBDT.FeatureNames()
	default:
		return []string{"PULocationID", "DOLocationID", "trip_distance"}
	}
}

// maxFeatures bounds the row buffer of Predict so it stays on the stack.
const maxFeatures = 64

// Predict returns the predicted duration of a ride in minutes. It never
// invents a value: a model that cannot featurise the ride, or that answers
// NaN or ±Inf, returns an error.
func (a *Artifact) Predict(r tripcast.Ride) (float64, error) {
	var y float64
	switch a.Kind {
	case GBDT:
		if a.Spec == nil {
			return 0, tripcast.Errorf(tripcast.EINVALID, "model has no feature spec: it predicts from feature columns only (tripcast predict --input CSV)")
		}
		var buf [maxFeatures]float32
		row := a.Spec.Row(r, buf[:0])
		y = float64(a.GBDT.Predict(row))
	case Linear:
		y = a.Linear.Predict(r)
	default:
		return 0, tripcast.Errorf(tripcast.EINTERNAL, "unknown model kind %q", a.Kind)
	}
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return 0, tripcast.Errorf(tripcast.EINTERNAL, "model %s answered %v", a.Kind, y)
	}
	return y, nil
}

// PredictTrips predicts every trip of t into out (len(out) == t.Len()).
func (a *Artifact) PredictTrips(t *tripcast.Trips, out []float64) error {
	if len(out) != t.Len() {
		panic("model.PredictTrips: length mismatch")
	}
	switch a.Kind {
	case GBDT:
		if a.Spec == nil {
			return tripcast.Errorf(tripcast.EINVALID, "model has no feature spec")
		}
		m := a.Spec.Matrix(t, false)
		tmp := make([]float32, t.Len())
		a.GBDT.PredictBatch(m.Cols, tmp)
		for i, v := range tmp {
			out[i] = float64(v)
		}
	case Linear:
		a.Linear.PredictTrips(t, out)
	default:
		return tripcast.Errorf(tripcast.EINTERNAL, "unknown model kind %q", a.Kind)
	}
	return nil
}

// WriteTo writes the artifact: XGBoost JSON for gbdt, tripcast JSON for
// linear.
func (a *Artifact) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	var err error
	switch a.Kind {
	case GBDT:
		if a.GBDT.Attributes == nil {
			a.GBDT.Attributes = map[string]string{}
		}
		a.GBDT.Attributes[attrKind] = string(GBDT)
		if a.Spec != nil {
			b, merr := json.Marshal(a.Spec)
			if merr != nil {
				return 0, fmt.Errorf("write model: feature spec: %w", merr)
			}
			a.GBDT.Attributes[attrSpec] = string(b)
		}
		b, _ := json.Marshal(a.Metrics)
		a.GBDT.Attributes[attrMetrics] = string(b)
		b, _ = json.Marshal(a.Params)
		a.GBDT.Attributes[attrParams] = string(b)
		err = a.GBDT.WriteJSON(cw)
	case Linear:
		var buf bytes.Buffer
		if err = a.Linear.WriteJSON(&buf); err != nil {
			break
		}
		err = json.NewEncoder(cw).Encode(linearFile{Kind: Linear, Model: buf.Bytes(), Metrics: a.Metrics, Params: a.Params})
	default:
		err = fmt.Errorf("unknown model kind %q", a.Kind)
	}
	if err != nil {
		return cw.n, fmt.Errorf("write %s model: %w", a.Kind, err)
	}
	return cw.n, nil
}

// linearFile is the on-disk form of a linear artifact.
type linearFile struct {
	Kind    Kind               `json:"tripcast_kind"`
	Model   json.RawMessage    `json:"model"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Params  map[string]string  `json:"params,omitempty"`
}

// Read reads an artifact written by WriteTo, or any XGBoost JSON model
// (1.7 or 2.x), which then has no feature spec.
func Read(r io.Reader) (*Artifact, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	// An XGBoost model is an object with a "learner" key; looking for the
	// key, rather than decoding the document twice, halves the load time of
	// large models (the attributes of a linear file cannot hold the
	// sequence: its only strings are zone-pair keys and parameters).
	if bytes.Contains(b, []byte(`"learner"`)) {
		return readGBDT(b)
	}
	var lf linearFile
	if err := json.Unmarshal(b, &lf); err != nil {
		return nil, tripcast.Errorf(tripcast.EINVALID, "read model: not a JSON model file: %v", err)
	}
	if lf.Kind != Linear {
		return nil, tripcast.Errorf(tripcast.EINVALID, "read model: neither an XGBoost JSON model (no \"learner\") nor a tripcast linear model")
	}
	lm, err := linear.ReadJSON(bytes.NewReader(lf.Model))
	if err != nil {
		return nil, fmt.Errorf("read linear model: %w", err)
	}
	return &Artifact{Kind: Linear, Linear: lm, Metrics: lf.Metrics, Params: lf.Params}, nil
}

func readGBDT(b []byte) (*Artifact, error) {
	gm, err := gbdt.ReadJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read gbdt model: %w", err)
	}
	a := &Artifact{Kind: GBDT, GBDT: gm}
	if s, ok := gm.Attributes[attrSpec]; ok {
		a.Spec = new(features.Spec)
		if err := json.Unmarshal([]byte(s), a.Spec); err != nil {
			return nil, tripcast.Errorf(tripcast.EINVALID, "read gbdt model: feature spec: %v", err)
		}
		if got, want := len(a.Spec.Names()), len(gm.FeatureNames()); want > 0 && got != want {
			return nil, tripcast.Errorf(tripcast.EINVALID, "read gbdt model: feature spec has %d features, trees use %d", got, want)
		}
	}
	if s, ok := gm.Attributes[attrMetrics]; ok && s != "null" {
		if err := json.Unmarshal([]byte(s), &a.Metrics); err != nil {
			return nil, tripcast.Errorf(tripcast.EINVALID, "read gbdt model: metrics: %v", err)
		}
	}
	if s, ok := gm.Attributes[attrParams]; ok && s != "null" {
		if err := json.Unmarshal([]byte(s), &a.Params); err != nil {
			return nil, tripcast.Errorf(tripcast.EINVALID, "read gbdt model: params: %v", err)
		}
	}
	return a, nil
}

// LoadFile reads an artifact from a file.
func LoadFile(path string) (*Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return a, nil
}

// SaveFile writes the artifact to path atomically (temporary file, then
// rename).
func (a *Artifact) SaveFile(path string) error {
	err := atomicfile.Write(path, func(f *os.File) error {
		_, err := a.WriteTo(f)
		return err
	})
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
