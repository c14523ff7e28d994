// Package features is tripcast's single feature definition: how a ride (pickup
// zone, dropoff zone, trip distance, optional pickup time) becomes the model
// inputs, for training, serving, batch scoring and monitoring alike.
//
// A Spec names the features in order, says which are categorical, and holds
// the encodings learned from the training month (per zone pair, pickup zone
// and dropoff zone: smoothed mean duration, smoothed pace times the ride's
// distance, number of trips). Every model carries
// its Spec as JSON, so serving computes exactly what training computed: the
// same code path (Row and Matrix share their arithmetic) and the same learned
// numbers (the JSON round-trips them bit for bit).
//
// Training rows get out-of-fold encodings (K folds, fixed seed): each row's
// encoding is learned from the other folds only, so a model cannot learn to
// trust an encoding that has seen its own label. Validation, test and serving
// rows get the encodings of the whole training month; their labels never feed
// an encoding.
package features

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"tripcast"
)

// NumZones is the number of taxi zone codes: 0..265 (1..265 are the TLC
// zones, 0 stands for a missing zone).
const NumZones = 266

// SpecVersion is the version of the feature definition code. A Spec's
// Version is SpecVersion plus a hash of its content.
const SpecVersion = "v1"

// Kind says how a model should treat a feature.
type Kind string

// Feature kinds.
const (
	Numeric     Kind = "numeric"     // an ordered number
	Categorical Kind = "categorical" // a code in 0..Categories-1, no order
)

// Raw inputs a feature can take its value from (Feature.Source). Any other
// source names an Encoding of the Spec.
const (
	SourcePU       = "PULocationID"   // pickup zone code 0..265
	SourceDO       = "DOLocationID"   // dropoff zone code 0..265
	SourceDistance = "trip_distance"  // miles
	SourceHour     = "pickup_hour"    // fractional hour of the pickup wall clock, 0 <= h < 24
	SourceWeekday  = "pickup_weekday" // Monday = 0 … Sunday = 6
)

// Key is what an encoding groups the training trips by.
type Key string

// Encoding keys.
const (
	KeyPair Key = "pair" // (pickup zone, dropoff zone)
	KeyPU   Key = "pu"   // pickup zone
	KeyDO   Key = "do"   // dropoff zone
)

// Stat is what an encoding computes over the training trips of its group.
// Every statistic is smoothed towards the training month's global value with
// Smoothing pseudo-trips: (Σx + m·global)/(n + m).
type Stat string

// Encoding statistics.
const (
	// StatDuration is the smoothed mean duration (minutes) of the group.
	StatDuration Stat = "duration"
	// StatPace is the group's smoothed pace (Σ minutes / Σ miles over its
	// trips of plausible distance, with m average trips added to both sums)
	// times the ride's own distance: the duration the group's typical speed
	// predicts for this ride.
	StatPace Stat = "pace_duration"
	// StatDistance is the smoothed mean distance (miles) of the group's
	// trips of plausible distance. It
	// does not use the label, so training rows get the whole month's value.
	StatDistance Stat = "distance"
	// StatCount is the number of training trips of the group (0 when
	// unseen), which tells a model how far to trust the other encodings.
	// It does not use the label; Smoothing is ignored.
	StatCount Stat = "count"
)

// usesLabel reports whether the statistic is computed from the label, and
// so must be out-of-fold on training rows.
func (s Stat) usesLabel() bool { return s == StatDuration || s == StatPace }

// Feature is one model input, in the Spec's order.
type Feature struct {
	Name       string `json:"name"`
	Kind       Kind   `json:"kind"`
	Source     string `json:"source"`               // a Source* input or an encoding name
	Categories int    `json:"categories,omitempty"` // categorical: codes are 0..Categories-1
}

// Encoding is a statistic of the training trips per group, used as a numeric
// feature.
type Encoding struct {
	Name      string  `json:"name"`
	Key       Key     `json:"key"`
	Stat      Stat    `json:"stat"`
	Smoothing float64 `json:"smoothing"` // pseudo-trips at the global value
}

// Fitted holds what Fit learned from the training trips: the global sums and
// the sums of every group seen, from which every encoding is computed.
//
// Distances enter the sums only for trips with a plausible distance, 0 <
// miles <= MaxPaceDistance (PaceRows of them, PaceDuration their minutes):
// a few records claim tens of thousands of miles (244,152 in green 2021-01)
// and would otherwise make a zone's pace, and the global one, meaningless.
type Fitted struct {
	Rows         int     `json:"rows"`
	SumDuration  float64 `json:"sum_duration"`
	SumDistance  float64 `json:"sum_distance"`
	PaceRows     int     `json:"pace_rows"`
	PaceDuration float64 `json:"pace_duration"`
	Pair         []Group `json:"pair"` // Key = PU*NumZones + DO, ascending
	PU           []Group `json:"pu"`   // Key = zone, ascending
	DO           []Group `json:"do"`   // Key = zone, ascending
}

// Group is the sums of one group of training trips (see Fitted).
type Group struct {
	Key          int     `json:"k"`
	N            int     `json:"n"`
	SumDuration  float64 `json:"y"`
	SumDistance  float64 `json:"d"`
	PaceRows     int     `json:"pn,omitempty"`
	PaceDuration float64 `json:"py,omitempty"`
}

// MaxPaceDistance is the largest trip distance (miles) counted in the
// distance sums of the encodings.
const MaxPaceDistance = 100.0

// Spec is a feature definition and, once fitted, the encodings learned from
// one training month. It marshals to and from JSON with its exported fields;
// unmarshalling validates it and rebuilds the lookup tables. A Spec is safe
// for concurrent use once fitted (Row and Matrix only read it).
type Spec struct {
	Version   string     `json:"version"` // SpecVersion + "-" + content hash
	Features  []Feature  `json:"features"`
	Encodings []Encoding `json:"encodings"`
	Folds     int        `json:"folds"` // out-of-fold encodings of training rows
	Seed      uint64     `json:"seed"`  // fold assignment
	Fitted    *Fitted    `json:"fitted,omitempty"`

	catZones bool // option of New only

	plan []step      // per feature: where its value comes from
	tabs [][]float64 // per encoding: value (or pace) by key, dense
	glob []float64   // per encoding: the global value used for unseen keys
}

// step is a compiled Feature.
type step struct {
	src  int  // one of the src* below
	enc  int  // encoding index when src == srcEnc
	key  int  // keyIndex of the encoding's key
	pace bool // the encoding is a pace: multiply by the distance
}

const (
	srcPU = iota
	srcDO
	srcDistance
	srcHour
	srcWeekday
	srcEnc
)

var rawSources = map[string]int{
	SourcePU: srcPU, SourceDO: srcDO, SourceDistance: srcDistance,
	SourceHour: srcHour, SourceWeekday: srcWeekday,
}

// Default settings of New.
const (
	DefaultFolds     = 5
	DefaultSeed      = 42
	DefaultSmoothing = 3
)

// DefaultEncodings returns the default encodings, with smoothing m for the
// label-based ones: for the zone pair, the pickup zone and the dropoff zone,
// the smoothed mean duration, the smoothed pace applied to the ride's
// distance, and the number of training trips.
//
// Each was kept because it lowered the validation RMSE of gbdt (green
// 2021-01 → 2021-02, numeric zone codes, gbdt parameters eta 0.1, depth 8,
// lambda 1, subsample 0.8): mean durations of pair and zones 5.447; + pair
// pace 5.446 (m = 10) and 5.437 (m = 3; m = 1: 5.418 but noisier, m = 30:
// 5.474, m = 100: 5.538); + pair count 5.368; + zone counts 5.345; + zone
// paces 5.336. With gbdt's later defaults (eta 0.05, lambda 100,
// colsample_bytree 0.6) the three mean durations alone give 5.409 and the
// full default set 5.283. Counts are label-free and use the whole month
// even for training rows (out-of-fold counts measured worse, 5.381 against
// 5.336). 10 folds instead of 5 changed nothing (5.345 against 5.345).
// Keeping implausible distances out of the pace sums (see Fitted) took
// XGBoost 1.7.4 (hist, depth 8, eta 0.1, subsample 0.8) on these features
// from 5.341 to 5.329. The pair's mean distance made XGBoost worse (5.461 →
// 5.530) and is not in the default.
func DefaultEncodings(m float64) []Encoding {
	return []Encoding{
		{Name: "te_pair_duration", Key: KeyPair, Stat: StatDuration, Smoothing: m},
		{Name: "te_pu_duration", Key: KeyPU, Stat: StatDuration, Smoothing: m},
		{Name: "te_do_duration", Key: KeyDO, Stat: StatDuration, Smoothing: m},
		{Name: "te_pair_pace_duration", Key: KeyPair, Stat: StatPace, Smoothing: m},
		{Name: "te_pu_pace_duration", Key: KeyPU, Stat: StatPace, Smoothing: m},
		{Name: "te_do_pace_duration", Key: KeyDO, Stat: StatPace, Smoothing: m},
		{Name: "pair_count", Key: KeyPair, Stat: StatCount},
		{Name: "pu_count", Key: KeyPU, Stat: StatCount},
		{Name: "do_count", Key: KeyDO, Stat: StatCount},
	}
}

// Option changes a setting of New.
type Option func(*Spec)

// WithFolds sets the number of folds of the out-of-fold training encodings.
func WithFolds(k int) Option { return func(s *Spec) { s.Folds = k } }

// WithSeed sets the seed of the fold assignment.
func WithSeed(seed uint64) Option { return func(s *Spec) { s.Seed = seed } }

// WithEncodings replaces the encodings (and their features) of the spec.
func WithEncodings(encs ...Encoding) Option {
	return func(s *Spec) { s.Encodings = slices.Clone(encs) }
}

// WithCategoricalZones declares the pickup and dropoff zone features
// categorical (codes 0..265) instead of numeric codes.
func WithCategoricalZones(on bool) Option { return func(s *Spec) { s.catZones = on } }

// New returns an unfitted Spec: the raw features (pickup zone, dropoff zone,
// trip distance, fractional pickup hour, weekday) followed by one numeric
// feature per encoding (DefaultEncodings unless WithEncodings), with
// DefaultFolds folds and DefaultSeed.
//
// The zone features are numeric codes unless WithCategoricalZones(true):
// the encodings already carry what each zone and pair means, smoothed, and
// categorical zone splits on top of them overfit. Measured with gbdt's
// default parameters on green 2021-01 → 2021-02: validation RMSE 5.364
// with categorical zones against 5.288 with numeric codes (and 5.53 against
// 5.44 with an earlier gbdt default of eta 0.1, lambda 1, no column
// sampling).
func New(opts ...Option) (*Spec, error) {
	s := &Spec{Encodings: DefaultEncodings(DefaultSmoothing), Folds: DefaultFolds, Seed: DefaultSeed}
	for _, o := range opts {
		o(s)
	}
	zone := Feature{Kind: Numeric}
	if s.catZones {
		zone = Feature{Kind: Categorical, Categories: NumZones}
	}
	pu, do := zone, zone
	pu.Name, pu.Source = SourcePU, SourcePU
	do.Name, do.Source = SourceDO, SourceDO
	s.Features = []Feature{
		pu,
		do,
		{Name: SourceDistance, Kind: Numeric, Source: SourceDistance},
		{Name: SourceHour, Kind: Numeric, Source: SourceHour},
		{Name: SourceWeekday, Kind: Numeric, Source: SourceWeekday},
	}
	for _, e := range s.Encodings {
		s.Features = append(s.Features, Feature{Name: e.Name, Kind: Numeric, Source: e.Name})
	}
	s.Version = s.hash()
	if err := s.init(); err != nil {
		return nil, err
	}
	return s, nil
}

// Default returns the default, unfitted Spec.
func Default() *Spec {
	s, err := New()
	if err != nil {
		panic("features: default spec invalid: " + err.Error())
	}
	return s
}

// Names returns the feature names in order.
func (s *Spec) Names() []string {
	names := make([]string, len(s.Features))
	for i, f := range s.Features {
		names[i] = f.Name
	}
	return names
}

// Categorical reports, in feature order, which features are categorical.
func (s *Spec) Categorical() []bool {
	c := make([]bool, len(s.Features))
	for i, f := range s.Features {
		c[i] = f.Kind == Categorical
	}
	return c
}

// IsFitted reports whether the spec has learned its encodings (or has none
// to learn).
func (s *Spec) IsFitted() bool { return len(s.Encodings) == 0 || s.Fitted != nil }

// hash returns SpecVersion and a hash of everything but the Version field:
// the definition as JSON, then the fitted sums as raw little-endian numbers
// (hashing the ~13,000 fitted groups through encoding/json would cost more
// than building a month's matrix).
func (s *Spec) hash() string {
	def, err := json.Marshal(struct {
		Features  []Feature
		Encodings []Encoding
		Folds     int
		Seed      uint64
	}{s.Features, s.Encodings, s.Folds, s.Seed})
	if err != nil { // only strings and finite numbers: cannot fail
		panic("features: hash spec: " + err.Error())
	}
	h := sha256.New()
	h.Write(def)
	if f := s.Fitted; f != nil {
		le := binary.LittleEndian
		buf := le.AppendUint64(nil, uint64(f.Rows))
		buf = le.AppendUint64(buf, math.Float64bits(f.SumDuration))
		buf = le.AppendUint64(buf, math.Float64bits(f.SumDistance))
		buf = le.AppendUint64(buf, uint64(f.PaceRows))
		buf = le.AppendUint64(buf, math.Float64bits(f.PaceDuration))
		for _, gs := range [][]Group{f.Pair, f.PU, f.DO} {
			buf = le.AppendUint64(buf, uint64(len(gs)))
			for _, g := range gs {
				buf = le.AppendUint64(buf, uint64(g.Key))
				buf = le.AppendUint64(buf, uint64(g.N))
				buf = le.AppendUint64(buf, math.Float64bits(g.SumDuration))
				buf = le.AppendUint64(buf, math.Float64bits(g.SumDistance))
				buf = le.AppendUint64(buf, uint64(g.PaceRows))
				buf = le.AppendUint64(buf, math.Float64bits(g.PaceDuration))
			}
		}
		h.Write(buf)
	}
	return SpecVersion + "-" + hex.EncodeToString(h.Sum(nil)[:6])
}

// Validate checks that the spec is well formed: known sources and kinds,
// unique names, sane encodings and fitted sums, and a Version that matches
// the content. Errors are EINVALID and name the field.
func (s *Spec) Validate() error {
	if len(s.Features) == 0 {
		return tripcast.FieldError("features", "no features")
	}
	encs := make(map[string]bool, len(s.Encodings))
	for i, e := range s.Encodings {
		field := fmt.Sprintf("encodings[%d]", i)
		_, raw := rawSources[e.Name]
		if e.Name == "" || encs[e.Name] || raw {
			return tripcast.FieldError(field+".name", "empty, duplicate or reserved name %q", e.Name)
		}
		encs[e.Name] = true
		switch e.Key {
		case KeyPair, KeyPU, KeyDO:
		default:
			return tripcast.FieldError(field+".key", "unknown key %q (want pair, pu or do)", e.Key)
		}
		switch e.Stat {
		case StatDuration, StatPace, StatDistance, StatCount:
		default:
			return tripcast.FieldError(field+".stat", "unknown statistic %q (want duration, pace_duration, distance or count)", e.Stat)
		}
		if !(e.Smoothing >= 0) || math.IsInf(e.Smoothing, 0) {
			return tripcast.FieldError(field+".smoothing", "must be a finite number >= 0, got %v", e.Smoothing)
		}
	}
	names := make(map[string]bool, len(s.Features))
	for i, f := range s.Features {
		field := fmt.Sprintf("features[%d]", i)
		if f.Name == "" || names[f.Name] {
			return tripcast.FieldError(field+".name", "empty or duplicate name %q", f.Name)
		}
		names[f.Name] = true
		src, raw := rawSources[f.Source]
		if !raw && !encs[f.Source] {
			return tripcast.FieldError(field+".source", "unknown source %q", f.Source)
		}
		zone := raw && (src == srcPU || src == srcDO)
		switch {
		case f.Kind == Categorical && zone:
			if f.Categories != NumZones {
				return tripcast.FieldError(field+".categories", "got %d, want %d", f.Categories, NumZones)
			}
		case f.Kind == Numeric:
			if f.Categories != 0 {
				return tripcast.FieldError(field+".categories", "numeric feature has categories")
			}
		default:
			return tripcast.FieldError(field+".kind", "kind %q not supported for source %q", f.Kind, f.Source)
		}
	}
	if len(s.Encodings) > 0 && (s.Folds < 2 || s.Folds > 255) {
		return tripcast.FieldError("folds", "must be 2..255, got %d", s.Folds)
	}
	if s.Fitted != nil {
		if err := s.Fitted.validate(); err != nil {
			return err
		}
	}
	if want := s.hash(); s.Version != want {
		return tripcast.FieldError("version", "got %q, want %q (the spec was changed after it was written)", s.Version, want)
	}
	return nil
}

func (f *Fitted) validate() error {
	if f.Rows <= 0 {
		return tripcast.FieldError("fitted.rows", "must be positive, got %d", f.Rows)
	}
	if !finite(f.SumDuration) || !finite(f.SumDistance) || !finite(f.PaceDuration) || f.PaceRows < 0 || f.PaceRows > f.Rows {
		return tripcast.FieldError("fitted", "sums are not finite")
	}
	for _, g := range []struct {
		name   string
		groups []Group
		size   int
	}{{"pair", f.Pair, NumZones * NumZones}, {"pu", f.PU, NumZones}, {"do", f.DO, NumZones}} {
		rows, last := 0, -1
		for i, x := range g.groups {
			if x.Key <= last || x.Key >= g.size {
				return tripcast.FieldError(fmt.Sprintf("fitted.%s[%d].k", g.name, i), "key %d out of range or not ascending", x.Key)
			}
			last = x.Key
			if x.N <= 0 || !finite(x.SumDuration) || !finite(x.SumDistance) || !finite(x.PaceDuration) || x.PaceRows < 0 || x.PaceRows > x.N {
				return tripcast.FieldError(fmt.Sprintf("fitted.%s[%d]", g.name, i), "count must be positive and sums finite")
			}
			rows += x.N
		}
		if rows > f.Rows {
			return tripcast.FieldError("fitted."+g.name, "groups hold %d rows, more than the %d fitted", rows, f.Rows)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// MarshalJSON writes the spec's exported fields.
func (s *Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	return json.Marshal((*plain)(s))
}

// UnmarshalJSON reads a spec written by MarshalJSON, validates it and
// rebuilds its lookup tables.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return &tripcast.Error{Code: tripcast.EINVALID, Message: "read feature spec", Err: err}
	}
	*s = Spec(p)
	if err := s.init(); err != nil {
		return fmt.Errorf("read feature spec: %w", err)
	}
	return nil
}

// init validates the spec and compiles the plan and the lookup tables.
func (s *Spec) init() error {
	if err := s.Validate(); err != nil {
		return err
	}
	encIdx := make(map[string]int, len(s.Encodings))
	for i, e := range s.Encodings {
		encIdx[e.Name] = i
	}
	s.plan = make([]step, len(s.Features))
	for i, f := range s.Features {
		if src, ok := rawSources[f.Source]; ok {
			s.plan[i] = step{src: src}
		} else {
			e := s.Encodings[encIdx[f.Source]]
			s.plan[i] = step{src: srcEnc, enc: encIdx[f.Source], key: keyIndex(e.Key), pace: e.Stat == StatPace}
		}
	}
	s.tabs, s.glob = nil, nil
	if s.Fitted == nil {
		return nil
	}
	f := s.Fitted
	g := sums{n: float64(f.Rows), y: f.SumDuration, d: f.SumDistance, pn: float64(f.PaceRows), py: f.PaceDuration}
	s.tabs = make([][]float64, len(s.Encodings))
	s.glob = make([]float64, len(s.Encodings))
	for i, e := range s.Encodings {
		groups := f.groups(e.Key)
		tab := make([]float64, keySize(e.Key))
		unseen := e.value(sums{}, g)
		for k := range tab {
			tab[k] = unseen
		}
		for _, x := range groups {
			tab[x.Key] = e.value(x.sums(), g)
		}
		s.tabs[i] = tab
		s.glob[i] = unseen
	}
	return nil
}

func (f *Fitted) groups(k Key) []Group {
	switch k {
	case KeyPair:
		return f.Pair
	case KeyPU:
		return f.PU
	}
	return f.DO
}

func keySize(k Key) int {
	if k == KeyPair {
		return NumZones * NumZones
	}
	return NumZones
}

// sums are the count and Σ duration of some trips, and the count, Σ
// distance and Σ duration of those of them with a plausible distance.
type sums struct{ n, y, d, pn, py float64 }

// value returns the smoothed statistic of a group with sums x, given the
// global sums g. For StatPace it is the pace (minutes per mile), which the
// caller multiplies by the ride's distance.
func (e *Encoding) value(x, g sums) float64 {
	if e.Stat == StatCount {
		return x.n
	}
	m := e.Smoothing
	if x.n+m == 0 || g.n == 0 {
		x = g // nothing to smooth with: fall back to the global value
		m = 0
		if g.n == 0 {
			return math.NaN()
		}
	}
	switch e.Stat {
	case StatDuration:
		return (x.y + m*g.y/g.n) / (x.n + m)
	}
	// Distance statistics: over the trips with a plausible distance.
	if g.pn == 0 {
		return math.NaN()
	}
	switch e.Stat {
	case StatDistance:
		if x.pn+m == 0 {
			return g.d / g.pn
		}
		return (x.d + m*g.d/g.pn) / (x.pn + m)
	default: // StatPace
		den := x.d + m*g.d/g.pn
		if den <= 0 {
			return g.py / g.d
		}
		return (x.py + m*g.py/g.pn) / den
	}
}

// zoneCode returns the zone as a table index, or -1 when outside 0..265.
func zoneCode(z int) int {
	if z < 0 || z >= NumZones {
		return -1
	}
	return z
}

// key returns the table index of (pu, do) for an encoding key, or -1.
func key(k Key, pu, do int) int {
	pu, do = zoneCode(pu), zoneCode(do)
	switch k {
	case KeyPair:
		if pu < 0 || do < 0 {
			return -1
		}
		return pu*NumZones + do
	case KeyPU:
		return pu
	}
	return do
}

// Fit learns the encodings from the training trips (their Duration is the
// label) and sets Version. Rows with a non-finite duration are an EINVALID
// error; rows with an unknown zone or a missing distance count towards the
// global sums only.
func (s *Spec) Fit(train *tripcast.Trips) error {
	n := train.Len()
	if n == 0 {
		return tripcast.FieldError("trips", "no training rows to fit the features on")
	}
	if err := checkTrips(train, true); err != nil {
		return err
	}
	f := &Fitted{Rows: n}
	pair := make([]sums, NumZones*NumZones)
	pu := make([]sums, NumZones)
	do := make([]sums, NumZones)
	var global sums
	for i := range n {
		x := trip(train.Duration[i], train.TripDistance[i])
		if !finite(x.y) {
			return tripcast.FieldError("duration", "row %d: not a finite number", i)
		}
		global.add(x)
		p, d := int(train.PULocationID[i]), int(train.DOLocationID[i])
		if k := key(KeyPair, p, d); k >= 0 {
			pair[k].add(x)
		}
		if k := zoneCode(p); k >= 0 {
			pu[k].add(x)
		}
		if k := zoneCode(d); k >= 0 {
			do[k].add(x)
		}
	}
	f.SumDuration, f.SumDistance = global.y, global.d
	f.PaceRows, f.PaceDuration = int(global.pn), global.py
	// Rows with a zone outside 0..265 count in the global sums only.
	f.Pair, f.PU, f.DO = groupsOf(pair), groupsOf(pu), groupsOf(do)
	old := s.Fitted
	s.Fitted = f
	s.Version = s.hash()
	if err := s.init(); err != nil {
		s.Fitted = old
		s.Version = s.hash()
		return fmt.Errorf("fit features: %w", err)
	}
	return nil
}

func (a *sums) add(x sums) { a.n += x.n; a.y += x.y; a.d += x.d; a.pn += x.pn; a.py += x.py }

// trip returns the sums of one trip: its distance counts only when
// plausible (see Fitted).
func trip(minutes, miles float64) sums {
	if miles > 0 && miles <= MaxPaceDistance {
		return sums{n: 1, y: minutes, d: miles, pn: 1, py: minutes}
	}
	return sums{n: 1, y: minutes}
}

func (g *Group) sums() sums {
	return sums{n: float64(g.N), y: g.SumDuration, d: g.SumDistance, pn: float64(g.PaceRows), py: g.PaceDuration}
}

func groupsOf(tab []sums) []Group {
	var gs []Group
	for k, x := range tab {
		if x.n > 0 {
			gs = append(gs, Group{Key: k, N: int(x.n), SumDuration: x.y, SumDistance: x.d, PaceRows: int(x.pn), PaceDuration: x.py})
		}
	}
	return gs
}

// checkTrips checks the column lengths of t; label says Duration is needed.
func checkTrips(t *tripcast.Trips, label bool) error {
	n := t.Len()
	if len(t.DOLocationID) != n || len(t.TripDistance) != n {
		return tripcast.Errorf(tripcast.EINVALID, "trips columns have different lengths")
	}
	if len(t.Pickup) != n && len(t.Pickup) != 0 {
		return tripcast.Errorf(tripcast.EINVALID, "trips pickup column has %d rows, want %d or none", len(t.Pickup), n)
	}
	if label && len(t.Duration) != n {
		return tripcast.FieldError("duration", "has %d rows, want %d", len(t.Duration), n)
	}
	return nil
}

// Matrix is a feature matrix in column-major order, the layout gbdt.Dataset
// uses: Cols[j][i] is feature j of row i, NaN when missing.
type Matrix struct {
	Names       []string
	Cols        [][]float32
	Categorical []bool
	Label       []float32 // Duration in minutes; nil when the trips have none
}

// Len returns the number of rows.
func (m *Matrix) Len() int {
	if len(m.Cols) == 0 {
		return len(m.Label)
	}
	return len(m.Cols[0])
}

// nullTime is the Pickup value of a missing time (tlc.NullTime).
const nullTime = math.MinInt64

// Matrix computes the features of every trip of t. With training false, the
// encodings are the fitted whole-month values, exactly what Row returns for
// the same ride. With training true, t must be the trips the spec was fitted
// on: each row's label-based encodings are then computed from the other
// folds of t (out-of-fold), so a model does not learn to trust an encoding
// that has seen its own label.
//
// Matrix panics if the spec has encodings and is not fitted, or if t's
// columns have different lengths (programmer errors).
func (s *Spec) Matrix(t *tripcast.Trips, training bool) *Matrix {
	if !s.IsFitted() {
		panic("features: Matrix on a spec that is not fitted")
	}
	if err := checkTrips(t, false); err != nil {
		panic("features: Matrix: " + err.Error())
	}
	n := t.Len()
	nf := len(s.Features)
	// One allocation for all columns, in feature order: the whole matrix is
	// written column by column, each a sequential pass over t's columns.
	buf := make([]float32, nf*n)
	m := &Matrix{Names: s.Names(), Categorical: s.Categorical(), Cols: make([][]float32, nf)}
	for j := range nf {
		m.Cols[j] = buf[j*n : (j+1)*n : (j+1)*n]
	}
	if len(t.Duration) == n {
		m.Label = make([]float32, n)
		for i, y := range t.Duration {
			m.Label[i] = float32(y)
		}
	}
	var oof *outOfFold
	if training && len(s.Encodings) > 0 {
		if len(t.Duration) != n {
			panic("features: Matrix(training) needs the Duration label")
		}
		oof = s.outOfFold(t)
	}
	var rowKeys [3][]int32 // per key type: each row's table index, or -1
	for j, st := range s.plan {
		col := m.Cols[j]
		switch st.src {
		case srcPU:
			for i, z := range t.PULocationID {
				col[i] = zoneValue(int(z))
			}
		case srcDO:
			for i, z := range t.DOLocationID {
				col[i] = zoneValue(int(z))
			}
		case srcDistance:
			for i, d := range t.TripDistance {
				col[i] = float32(d)
			}
		case srcHour, srcWeekday:
			if len(t.Pickup) != n {
				fillNaN(col)
				continue
			}
			for i, us := range t.Pickup {
				h, wd := clock(us)
				if st.src == srcHour {
					col[i] = h
				} else {
					col[i] = wd
				}
			}
		case srcEnc:
			e := &s.Encodings[st.enc]
			if oof != nil && e.Stat.usesLabel() {
				oof.fill(e, t, col)
				continue
			}
			// Table lookups by a per-row key computed once per key type;
			// the arithmetic is Row's, so they give the same bits.
			ki := keyIndex(e.Key)
			if rowKeys[ki] == nil {
				rowKeys[ki] = make([]int32, n)
				for i := range n {
					rowKeys[ki][i] = int32(key(e.Key, int(t.PULocationID[i]), int(t.DOLocationID[i])))
				}
			}
			tab, glob := s.tabs[st.enc], s.glob[st.enc]
			pace := e.Stat == StatPace
			for i, k := range rowKeys[ki] {
				v := glob
				if k >= 0 {
					v = tab[k]
				}
				if pace {
					v *= t.TripDistance[i]
				}
				col[i] = float32(v)
			}
		}
	}
	return m
}

func fillNaN(col []float32) {
	nan := float32(math.NaN())
	for i := range col {
		col[i] = nan
	}
}

// zoneValue is the categorical value of a zone: its code, or NaN (missing)
// outside 0..265.
func zoneValue(z int) float32 {
	if zoneCode(z) < 0 {
		return float32(math.NaN())
	}
	return float32(z)
}

// clock returns the fractional hour and the weekday (Monday = 0) of a wall
// clock time in Unix microseconds, NaN for a missing time.
func clock(us int64) (hour, weekday float32) {
	if us == nullTime {
		nan := float32(math.NaN())
		return nan, nan
	}
	const day = 86400 * 1e6
	days := us / day
	rem := us % day
	if rem < 0 {
		days--
		rem += day
	}
	wd := (days + 3) % 7 // 1970-01-01 was a Thursday (3 when Monday is 0)
	if wd < 0 {
		wd += 7
	}
	return float32(float64(rem) / 3.6e9), float32(wd)
}

// Row writes the features of one ride into dst (grown only if its capacity
// is short of the number of features) and returns it. The values equal
// Matrix's (training false) for the same ride. The pickup hour and weekday
// are those of the time's own wall clock (its location), NaN when the time
// is zero. Row does not allocate when dst is large enough; it panics if the
// spec has encodings and is not fitted.
func (s *Spec) Row(r tripcast.Ride, dst []float32) []float32 {
	if s.tabs == nil && len(s.Encodings) > 0 {
		panic("features: Row on a spec that is not fitted")
	}
	nf := len(s.plan)
	if cap(dst) < nf {
		dst = make([]float32, nf)
	}
	dst = dst[:nf]
	// The three table indexes, computed once for all encodings.
	keys := [3]int{key(KeyPair, r.PULocationID, r.DOLocationID), zoneCode(r.PULocationID), zoneCode(r.DOLocationID)}
	hour, wd := float32(math.NaN()), float32(math.NaN())
	if !r.PickupTime.IsZero() {
		_, off := r.PickupTime.Zone()
		hour, wd = clock(r.PickupTime.UnixMicro() + int64(off)*1e6)
	}
	for j, st := range s.plan {
		switch st.src {
		case srcPU:
			dst[j] = zoneValue(r.PULocationID)
		case srcDO:
			dst[j] = zoneValue(r.DOLocationID)
		case srcDistance:
			dst[j] = float32(r.TripDistance)
		case srcHour:
			dst[j] = hour
		case srcWeekday:
			dst[j] = wd
		case srcEnc:
			// Matrix does the same arithmetic, so they agree bit for bit
			// (TestRowMatrixParity).
			v := s.glob[st.enc]
			if k := keys[st.key]; k >= 0 {
				v = s.tabs[st.enc][k]
			}
			if st.pace {
				v *= r.TripDistance
			}
			dst[j] = float32(v)
		}
	}
	return dst
}

// outOfFold holds per-fold sums of the training trips for the out-of-fold
// encodings: a row in fold f gets the encoding of (all sums − fold f sums).
// Groups are renumbered densely in order of appearance, so the per-fold
// tables hold the groups present (about 13,000 pairs in a month) rather than
// all 266² pairs: a few hundred kilobytes that stay in cache.
type outOfFold struct {
	k     int
	fold  []uint8
	glob  []sums // per fold
	total sums   // all rows
	keys  [3]oofKey
}

// oofKey is one key's groups: the dense group of each row (-1 for a zone
// outside 0..265) and the sums per fold, [f*groups + g], with the totals at
// f = k.
type oofKey struct {
	row    []int32
	groups int
	tab    []sums
}

func keyIndex(k Key) int {
	switch k {
	case KeyPair:
		return 0
	case KeyPU:
		return 1
	}
	return 2
}

// folds returns the fold of each of n rows: uniform draws from a PCG seeded
// with seed, so a given (seed, n) always gives the same folds.
func folds(n, k int, seed uint64) []uint8 {
	r := rand.New(rand.NewPCG(seed, 0x7472697063617374)) // "tripcast"
	f := make([]uint8, n)
	for i := range f {
		f[i] = uint8(r.IntN(k))
	}
	return f
}

func (s *Spec) outOfFold(t *tripcast.Trips) *outOfFold {
	n := t.Len()
	o := &outOfFold{k: s.Folds, fold: folds(n, s.Folds, s.Seed), glob: make([]sums, s.Folds)}
	for i := range n {
		x := trip(t.Duration[i], t.TripDistance[i])
		o.glob[o.fold[i]].add(x)
		o.total.add(x)
	}
	keys := [3]Key{KeyPair, KeyPU, KeyDO}
	var dense []int32
	for _, e := range s.Encodings {
		ki := keyIndex(e.Key)
		if !e.Stat.usesLabel() || o.keys[ki].row != nil {
			continue
		}
		// Renumber the groups present.
		if len(dense) < keySize(e.Key) {
			dense = make([]int32, NumZones*NumZones)
		}
		dense = dense[:keySize(e.Key)]
		for k := range dense {
			dense[k] = -1
		}
		ok := &o.keys[ki]
		ok.row = make([]int32, n)
		for i := range n {
			k := key(keys[ki], int(t.PULocationID[i]), int(t.DOLocationID[i]))
			if k < 0 {
				ok.row[i] = -1
				continue
			}
			if dense[k] < 0 {
				dense[k] = int32(ok.groups)
				ok.groups++
			}
			ok.row[i] = dense[k]
		}
		g := ok.groups
		ok.tab = make([]sums, (o.k+1)*g)
		for i, gi := range ok.row {
			if gi < 0 {
				continue
			}
			x := trip(t.Duration[i], t.TripDistance[i])
			ok.tab[int(o.fold[i])*g+int(gi)].add(x)
			ok.tab[o.k*g+int(gi)].add(x)
		}
	}
	return o
}

func sub(a, b sums) sums {
	return sums{n: a.n - b.n, y: a.y - b.y, d: a.d - b.d, pn: a.pn - b.pn, py: a.py - b.py}
}

// fill writes the out-of-fold values of encoding e for the rows of t. The
// value of a (fold, group) is the same for all its rows (up to the ride's
// distance for a pace), so it is computed once per fold and group, and the
// row loop is a lookup.
func (o *outOfFold) fill(e *Encoding, t *tripcast.Trips, col []float32) {
	ok := &o.keys[keyIndex(e.Key)]
	g := ok.groups
	tot := ok.tab[o.k*g:]
	// vals[f*(g+1) + gi]; gi = g is a row whose zone is outside 0..265.
	vals := make([]float64, o.k*(g+1))
	for f := range o.k {
		all := sub(o.total, o.glob[f])
		v := vals[f*(g+1) : (f+1)*(g+1)]
		for gi := range g {
			v[gi] = e.value(sub(tot[gi], ok.tab[f*g+gi]), all)
		}
		v[g] = e.value(sums{}, all)
	}
	pace := e.Stat == StatPace
	for i, gi := range ok.row {
		if gi < 0 {
			gi = int32(g)
		}
		v := vals[int(o.fold[i])*(g+1)+int(gi)]
		if pace {
			v *= t.TripDistance[i]
		}
		col[i] = float32(v)
	}
}
