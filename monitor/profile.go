package monitor

import (
	"encoding/json"
	"fmt"
	"math"

	"tripcast"
	"tripcast/tlc"
)

// Kind is a column's type for the drift tests.
type Kind string

// The column kinds, with Evidently's names.
const (
	Numerical   Kind = "num"
	Categorical Kind = "cat"
)

// ColumnSpec says how a column is profiled and checked.
type ColumnSpec struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Quantum > 0 rounds values to multiples of it before counting (bounded
	// memory for continuous columns such as predictions); 0 keeps them exact.
	Quantum float64 `json:"quantum,omitempty"`
	// Min and Max, when set, bound the valid values: data quality counts
	// values outside [Min, Max] as out of range.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Zeros makes data quality count values equal to 0 (zero distances).
	Zeros bool `json:"zeros,omitempty"`
}

// ColumnProfile is one column of a Profile: its spec and its count table.
type ColumnProfile struct {
	ColumnSpec
	Counts
}

// ProfileVersion is the version of the Profile JSON format written by this
// package.
const ProfileVersion = 1

// Profile is a set of columns in count form: a reference precomputed once
// (stored as JSON with a model version) or a current window. A report needs
// nothing else: no raw rows are kept. Its size grows with the distinct values
// of its columns (265 zones, 24 hours, a few thousand distances and
// durations), not with its rows.
type Profile struct {
	Version int             `json:"version"`
	Columns []ColumnProfile `json:"columns"`
}

// Column returns the column named name, or nil.
func (p *Profile) Column(name string) *ColumnProfile {
	for i := range p.Columns {
		if p.Columns[i].Name == name {
			return &p.Columns[i]
		}
	}
	return nil
}

// Validate checks a profile read from storage: known version, named columns
// of a known kind, and well-formed count tables. Errors are EINVALID with the
// field at fault.
func (p *Profile) Validate() error {
	if p.Version != ProfileVersion {
		return tripcast.FieldError("version", "profile version %d, want %d", p.Version, ProfileVersion)
	}
	specs := make([]ColumnSpec, len(p.Columns))
	for i, c := range p.Columns {
		specs[i] = c.ColumnSpec
		if !c.Counts.valid() {
			return tripcast.FieldError("columns."+c.Name, "malformed count table (values must increase strictly, be finite, with positive counts)")
		}
	}
	return validateSpecs(specs)
}

// DecodeProfile decodes and validates a profile's JSON.
func DecodeProfile(b []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "profile: " + err.Error(), Err: err}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return &p, nil
}

func validateSpecs(specs []ColumnSpec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		switch {
		case s.Name == "":
			return tripcast.FieldError("columns", "a column has no name")
		case seen[s.Name]:
			return tripcast.FieldError("columns."+s.Name, "column %q given twice", s.Name)
		case s.Kind != Numerical && s.Kind != Categorical:
			return tripcast.FieldError("columns."+s.Name+".kind", "kind %q, want %q or %q", s.Kind, Numerical, Categorical)
		case s.Quantum < 0 || !isFinite(s.Quantum):
			return tripcast.FieldError("columns."+s.Name+".quantum", "quantum %v, want >= 0", s.Quantum)
		}
		seen[s.Name] = true
	}
	return nil
}

// Builder builds a Profile incrementally: add whole columns or rows as they
// come (a window of the prediction log read in batches), then take the
// Profile. Memory is that of the count tables. Not safe for concurrent use;
// build one per goroutine and Merge.
type Builder struct {
	specs []ColumnSpec
	accs  []Accumulator
	index map[string]int
}

// NewBuilder returns a builder for the columns of specs.
func NewBuilder(specs []ColumnSpec) (*Builder, error) {
	if err := validateSpecs(specs); err != nil {
		return nil, err
	}
	b := &Builder{specs: specs, accs: make([]Accumulator, len(specs)), index: make(map[string]int, len(specs))}
	for i, s := range specs {
		b.accs[i].Quantum = s.Quantum
		b.index[s.Name] = i
	}
	return b, nil
}

// Add counts values (NaN or ±Inf: missing) into the column named name.
func (b *Builder) Add(name string, values []float64) error {
	i, ok := b.index[name]
	if !ok {
		return tripcast.FieldError("column", "unknown column %q", name)
	}
	b.accs[i].AddSlice(values)
	return nil
}

// AddRow counts one row whose values are in the order of the specs. It
// panics when len(row) differs from the number of columns.
func (b *Builder) AddRow(row []float64) {
	if len(row) != len(b.accs) {
		panic(fmt.Sprintf("monitor: row of %d values for %d columns", len(row), len(b.accs)))
	}
	for i, v := range row {
		b.accs[i].Add(v)
	}
}

// AddProfile adds the counts of a profile (a stored window: hourly profiles
// make a day) column by column; a column of p the builder does not have is
// an EINVALID error and nothing is added.
func (b *Builder) AddProfile(p *Profile) error {
	for _, c := range p.Columns {
		if _, ok := b.index[c.Name]; !ok {
			return tripcast.FieldError("columns."+c.Name, "unknown column %q", c.Name)
		}
	}
	for _, c := range p.Columns {
		b.accs[b.index[c.Name]].AddCounts(c.Counts)
	}
	return nil
}

// Merge adds o's counts; o must have been built from the same specs.
func (b *Builder) Merge(o *Builder) {
	for i := range b.accs {
		b.accs[i].Merge(&o.accs[i])
	}
}

// Profile returns the profile of everything added so far.
func (b *Builder) Profile() *Profile {
	p := &Profile{Version: ProfileVersion, Columns: make([]ColumnProfile, len(b.specs))}
	for i, s := range b.specs {
		p.Columns[i] = ColumnProfile{ColumnSpec: s, Counts: b.accs[i].Counts()}
	}
	return p
}

// NewProfile builds a profile of the columns of specs from whole columns
// (name → values, NaN for missing); a spec without a column gets an empty
// table, a column without a spec is left out.
func NewProfile(specs []ColumnSpec, columns map[string][]float64) (*Profile, error) {
	b, err := NewBuilder(specs)
	if err != nil {
		return nil, err
	}
	for i, s := range specs {
		b.accs[i].AddSlice(columns[s.Name])
	}
	return b.Profile(), nil
}

// The names of the columns TripColumns extracts, as the course names them.
const (
	ColPULocation   = "PULocationID"
	ColDOLocation   = "DOLocationID"
	ColDistance     = "trip_distance"
	ColPassengers   = "passenger_count"
	ColHour         = "hour"
	ColDuration     = "duration"
	ColFare         = "fare_amount"
	ColTotal        = "total_amount"
	ColPrediction   = "prediction"
	predictionQuant = 0.001 // minutes (0.06 s): see TripSpecs
)

func ptr(v float64) *float64 { return &v }

// TripSpecs returns the specs of the monitored TLC columns: the zones
// (categorical, valid 1..265), trip_distance (0..100 miles, zeros counted),
// passenger_count, pickup hour and duration in minutes (numerical, exact),
// fare_amount and total_amount (numerical, exact: cents), and with
// prediction the prediction column in minutes rounded to 0.001 (0.06 s; the
// normed Wasserstein moves by at most 0.0005/std from it).
func TripSpecs(prediction bool) []ColumnSpec {
	zmin, zmax := float64(tlc.MinZoneID), float64(tlc.MaxZoneID)
	s := []ColumnSpec{
		{Name: ColPULocation, Kind: Categorical, Min: &zmin, Max: &zmax},
		{Name: ColDOLocation, Kind: Categorical, Min: &zmin, Max: &zmax},
		{Name: ColDistance, Kind: Numerical, Min: ptr(0), Max: ptr(tlc.MaxDistance), Zeros: true},
		{Name: ColPassengers, Kind: Numerical, Min: ptr(0)},
		{Name: ColHour, Kind: Numerical, Min: ptr(0), Max: ptr(23)},
		{Name: ColDuration, Kind: Numerical, Min: ptr(0)},
		{Name: ColFare, Kind: Numerical},
		{Name: ColTotal, Kind: Numerical},
	}
	if prediction {
		s = append(s, ColumnSpec{Name: ColPrediction, Kind: Numerical, Quantum: predictionQuant, Min: ptr(0)})
	}
	return s
}

// TripColumns returns the monitored columns of a batch of trips, named as
// TripSpecs names them: zones, distance, passengers, fare and total as
// floats (NaN when null), the pickup hour (0–23, wall clock) and the
// duration in minutes.
func TripColumns(t *tripcast.Trips) map[string][]float64 {
	n := t.Len()
	pu, do, hour := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		pu[i] = zone(t.PULocationID[i])
		do[i] = zone(t.DOLocationID[i])
		// Pickup is wall-clock microseconds: the hour is read without a zone.
		if p := t.Pickup[i]; p == tlc.NullTime {
			hour[i] = math.NaN()
		} else {
			h := floorDiv(p, 3600e6)
			hour[i] = float64(h - 24*floorDiv(h, 24))
		}
	}
	cols := map[string][]float64{
		ColPULocation: pu, ColDOLocation: do, ColHour: hour,
		ColDistance: t.TripDistance, ColPassengers: t.PassengerCount,
		ColFare: t.FareAmount, ColTotal: t.TotalAmount,
	}
	if len(t.Duration) == n {
		cols[ColDuration] = t.Duration
	}
	return cols
}

// zone returns a zone ID as a float, NaN for a null (0) zone.
func zone(id int32) float64 {
	if id == 0 {
		return math.NaN()
	}
	return float64(id)
}
