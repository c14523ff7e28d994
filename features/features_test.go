package features_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/features"
	"tripcast/internal/testfiles"
	"tripcast/internal/testfiles/tlcdata"
	"tripcast/tlc"
)

// wall returns Unix microseconds of a wall-clock time given as text.
func wall(tb testing.TB, s string) int64 {
	tb.Helper()
	tm, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		tb.Fatal(err)
	}
	return tm.UnixMicro()
}

// handTrips is a small hand-made training set: pair (1,2) three times, (1,3)
// once, (4,2) twice.
func handTrips(tb testing.TB) *tripcast.Trips {
	return &tripcast.Trips{
		Pickup: []int64{
			wall(tb, "2021-02-01 08:15:00"), wall(tb, "2021-02-02 09:30:00"), wall(tb, "2021-02-07 23:45:36"),
			wall(tb, "2021-02-03 00:00:00"), wall(tb, "2021-02-04 12:00:00"), wall(tb, "2021-02-05 18:06:00"),
		},
		PULocationID: []int32{1, 1, 1, 1, 4, 4},
		DOLocationID: []int32{2, 2, 2, 3, 2, 2},
		TripDistance: []float64{1, 2, 3, 10, 0.5, 1.5},
		Duration:     []float64{10, 14, 18, 40, 6, 8},
	}
}

func mustFit(tb testing.TB, s *features.Spec, t *tripcast.Trips) *features.Spec {
	tb.Helper()
	if err := s.Fit(t); err != nil {
		tb.Fatalf("fit: %v", err)
	}
	return s
}

func col(tb testing.TB, m *features.Matrix, name string) []float32 {
	tb.Helper()
	for j, n := range m.Names {
		if n == name {
			return m.Cols[j]
		}
	}
	tb.Fatalf("no column %q in %v", name, m.Names)
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }

func TestDefault(t *testing.T) {
	s := features.Default()
	want := []string{"PULocationID", "DOLocationID", "trip_distance", "pickup_hour", "pickup_weekday",
		"te_pair_duration", "te_pu_duration", "te_do_duration", "te_pair_pace_duration",
		"te_pu_pace_duration", "te_do_pace_duration", "pair_count", "pu_count", "do_count"}
	if got := s.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got names %v, want %v", got, want)
	}
	for _, c := range s.Categorical() {
		if c {
			t.Fatalf("got categorical features %v, want none by default", s.Categorical())
		}
	}
	cs, err := features.New(features.WithCategoricalZones(true))
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range cs.Categorical() {
		if c != (j < 2) {
			t.Fatalf("WithCategoricalZones: feature %s: got categorical %v, want %v", want[j], c, j < 2)
		}
	}
	if cs.Features[0].Categories != features.NumZones {
		t.Fatalf("got %d categories, want %d", cs.Features[0].Categories, features.NumZones)
	}
	if s.IsFitted() {
		t.Fatal("got fitted default spec, want unfitted")
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("validate default: %v", err)
	}
	if !strings.HasPrefix(s.Version, features.SpecVersion+"-") {
		t.Fatalf("got version %q, want prefix %q", s.Version, features.SpecVersion+"-")
	}
}

func TestFit(t *testing.T) {
	train := handTrips(t)
	const m = 2.0
	s, err := features.New(features.WithEncodings(
		features.Encoding{Name: "pair", Key: features.KeyPair, Stat: features.StatDuration, Smoothing: m},
		features.Encoding{Name: "pu", Key: features.KeyPU, Stat: features.StatDuration, Smoothing: m},
		features.Encoding{Name: "do", Key: features.KeyDO, Stat: features.StatDuration, Smoothing: m},
		features.Encoding{Name: "pace", Key: features.KeyPair, Stat: features.StatPace, Smoothing: m},
		features.Encoding{Name: "dist", Key: features.KeyPair, Stat: features.StatDistance, Smoothing: m},
		features.Encoding{Name: "count", Key: features.KeyPair, Stat: features.StatCount},
	))
	if err != nil {
		t.Fatal(err)
	}
	before := s.Version
	mustFit(t, s, train)
	if s.Version == before {
		t.Fatalf("got version %q after fit, want it changed", s.Version)
	}
	// Global: 6 trips, Σy = 96, Σd = 18 → mean 16 min, 3 miles, pace 16/3.
	const gy, gd = 16.0, 3.0
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			ride   tripcast.Ride
			want   float64
			detail string
		}{
			{"pair", tripcast.Ride{PULocationID: 1, DOLocationID: 2}, (42 + m*gy) / (3 + m), "(1,2): 3 trips, Σy 42"},
			{"pair", tripcast.Ride{PULocationID: 2, DOLocationID: 1}, gy, "unseen pair: global mean"},
			{"pair", tripcast.Ride{PULocationID: 999, DOLocationID: 1}, gy, "unknown zone: global mean"},
			{"pu", tripcast.Ride{PULocationID: 1, DOLocationID: 9}, (82 + m*gy) / (4 + m), "PU 1: 4 trips, Σy 82"},
			{"do", tripcast.Ride{PULocationID: 9, DOLocationID: 2}, (56 + m*gy) / (5 + m), "DO 2: 5 trips, Σy 56"},
			{"pace", tripcast.Ride{PULocationID: 4, DOLocationID: 2, TripDistance: 2.5}, (14 + m*gy) / (2 + m*gd) * 2.5, "(4,2): Σy 14, Σd 2"},
			{"dist", tripcast.Ride{PULocationID: 1, DOLocationID: 3}, (10 + m*gd) / (1 + m), "(1,3): Σd 10"},
			{"count", tripcast.Ride{PULocationID: 1, DOLocationID: 2}, 3, "(1,2): 3 trips"},
			{"count", tripcast.Ride{PULocationID: 2, DOLocationID: 1}, 0, "unseen pair"},
		} {
			row := s.Row(tc.ride, nil)
			got := float64(row[indexOf(t, s, tc.name)])
			if !near(got, tc.want) {
				t.Errorf("%s %s: got %v, want %v", tc.name, tc.detail, got, tc.want)
			}
		}
	})
	t.Run("ImplausibleDistance", func(t *testing.T) {
		// Distances of 0 or over 100 miles stay out of the pace and
		// distance sums, not out of the duration mean.
		trips := &tripcast.Trips{
			PULocationID: []int32{1, 1, 1, 5}, DOLocationID: []int32{2, 2, 2, 6},
			TripDistance: []float64{1, 5000, 0, 4}, Duration: []float64{10, 20, 5, 12},
		}
		s, err := features.New(features.WithEncodings(
			features.Encoding{Name: "pair", Key: features.KeyPair, Stat: features.StatDuration},
			features.Encoding{Name: "pace", Key: features.KeyPair, Stat: features.StatPace},
			features.Encoding{Name: "dist", Key: features.KeyPair, Stat: features.StatDistance},
			features.Encoding{Name: "gpace", Key: features.KeyPair, Stat: features.StatPace, Smoothing: 1},
		))
		if err != nil {
			t.Fatal(err)
		}
		mustFit(t, s, trips)
		row := s.Row(tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 2}, nil)
		// Global plausible trips: (1 mi, 10 min), (4 mi, 12 min).
		for _, c := range []struct {
			name string
			want float64
		}{{"pair", 35.0 / 3}, {"pace", 10.0 / 1 * 2}, {"dist", 1}, {"gpace", (10 + 11) / (1 + 2.5) * 2}} {
			if got := float64(row[indexOf(t, s, c.name)]); !near(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		err := features.Default().Fit(&tripcast.Trips{})
		if tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Fatalf("got %v, want an EINVALID error", err)
		}
	})
	t.Run("ErrNaNLabel", func(t *testing.T) {
		bad := handTrips(t)
		bad.Duration[3] = math.NaN()
		err := features.Default().Fit(bad)
		if tripcast.ErrorCode(err) != tripcast.EINVALID || !strings.Contains(err.Error(), "row 3") {
			t.Fatalf("got %v, want an EINVALID error naming row 3", err)
		}
	})
}

func indexOf(tb testing.TB, s *features.Spec, name string) int {
	tb.Helper()
	for j, n := range s.Names() {
		if n == name {
			return j
		}
	}
	tb.Fatalf("no feature %q", name)
	return -1
}

func TestClock(t *testing.T) {
	s := features.Default()
	mustFit(t, s, handTrips(t))
	for _, tc := range []struct {
		at          string
		hour, wday  float64
		description string
	}{
		{"2021-02-01 08:15:00", 8.25, 0, "Monday morning"},
		{"2021-02-07 23:45:36", 23.76, 6, "Sunday night"},
		{"2021-01-01 00:00:00", 0, 4, "Friday midnight"},
		{"1969-12-31 18:00:00", 18, 2, "Wednesday before the epoch"},
	} {
		us := wall(t, tc.at)
		trips := &tripcast.Trips{Pickup: []int64{us}, PULocationID: []int32{1}, DOLocationID: []int32{2},
			TripDistance: []float64{1}}
		m := s.Matrix(trips, false)
		h, wd := float64(col(t, m, "pickup_hour")[0]), float64(col(t, m, "pickup_weekday")[0])
		if !near(h, tc.hour) || wd != tc.wday {
			t.Errorf("%s (%s): got hour %v weekday %v, want %v %v", tc.at, tc.description, h, wd, tc.hour, tc.wday)
		}
		// Serving: the wall clock of the time's own location.
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Fatal(err)
		}
		utc := time.UnixMicro(us).UTC()
		local := time.Date(utc.Year(), utc.Month(), utc.Day(), utc.Hour(), utc.Minute(), utc.Second(), 0, ny)
		for _, pt := range []time.Time{utc, local} {
			row := s.Row(tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 1, PickupTime: pt}, nil)
			if row[3] != col(t, m, "pickup_hour")[0] || row[4] != col(t, m, "pickup_weekday")[0] {
				t.Errorf("%s in %s: got Row hour %v weekday %v, want %v %v", tc.at, pt.Location(), row[3], row[4], h, wd)
			}
		}
	}
	t.Run("UnknownTime", func(t *testing.T) {
		row := s.Row(tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 1}, nil)
		if !math.IsNaN(float64(row[3])) || !math.IsNaN(float64(row[4])) {
			t.Fatalf("got hour %v weekday %v, want NaN NaN", row[3], row[4])
		}
		trips := &tripcast.Trips{PULocationID: []int32{1}, DOLocationID: []int32{2}, TripDistance: []float64{1}}
		m := s.Matrix(trips, false)
		if h := col(t, m, "pickup_hour")[0]; !math.IsNaN(float64(h)) {
			t.Fatalf("got hour %v without a pickup column, want NaN", h)
		}
		trips.Pickup = []int64{math.MinInt64}
		m = s.Matrix(trips, false)
		if h := col(t, m, "pickup_weekday")[0]; !math.IsNaN(float64(h)) {
			t.Fatalf("got weekday %v for a null pickup, want NaN", h)
		}
	})
}

func TestZones(t *testing.T) {
	s := mustFit(t, features.Default(), handTrips(t))
	for _, tc := range []struct {
		zone int
		want float64
	}{{0, 0}, {1, 1}, {265, 265}, {266, math.NaN()}, {-1, math.NaN()}} {
		row := s.Row(tripcast.Ride{PULocationID: tc.zone, DOLocationID: tc.zone}, nil)
		for j := range 2 {
			got := float64(row[j])
			if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("zone %d feature %d: got %v, want %v", tc.zone, j, got, tc.want)
			}
		}
	}
}

// TestMatrixOutOfFold checks the training encodings against a brute-force
// recomputation: a row's value comes from the rows of the other folds only.
func TestMatrixOutOfFold(t *testing.T) {
	train := tlcdata.CourseShared(t, "2021-01")
	s := mustFit(t, features.Default(), train)
	m := s.Matrix(train, true)
	full := s.Matrix(train, false)
	pair, fullPair := col(t, m, "te_pair_duration"), col(t, full, "te_pair_duration")
	pace := col(t, m, "te_pair_pace_duration")
	// Counts use no label: training rows get the whole month's.
	for _, name := range []string{"pair_count", "pu_count", "do_count"} {
		a, b := col(t, m, name), col(t, full, name)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s row %d: got %v for training, want the whole month's %v", name, i, a[i], b[i])
			}
		}
	}
	differ := 0
	for i := range pair {
		if pair[i] != fullPair[i] {
			differ++
		}
	}
	if differ < len(pair)/2 {
		t.Fatalf("got %d of %d training rows with an out-of-fold pair encoding different from the full one, want most", differ, len(pair))
	}
	// Recompute a sample of rows by brute force. The fold of a row is
	// recovered by trying each fold: the right one reproduces the value
	// exactly and leaves the row itself out.
	const m0 = features.DefaultSmoothing
	fold := features.FoldsForTest(train.Len(), features.DefaultFolds, features.DefaultSeed)
	for i := 0; i < train.Len(); i += 997 {
		found := false
		for f := range features.DefaultFolds {
			if int(fold[i]) != f {
				continue
			}
			// Pace sums: trips with 0 < miles <= 100 only.
			var n, sy, gn, gy, pn, py, pd, gpn, gpy, gpd float64
			for r := range train.Len() {
				if int(fold[r]) == f {
					continue
				}
				d, y := train.TripDistance[r], train.Duration[r]
				plausible := d > 0 && d <= features.MaxPaceDistance
				gn++
				gy += y
				if plausible {
					gpn++
					gpy += y
					gpd += d
				}
				if train.PULocationID[r] == train.PULocationID[i] && train.DOLocationID[r] == train.DOLocationID[i] {
					n++
					sy += y
					if plausible {
						pn++
						py += y
						pd += d
					}
				}
			}
			want := (sy + m0*gy/gn) / (n + m0)
			if !near(float64(pair[i]), want) {
				t.Errorf("row %d: got out-of-fold pair encoding %v, want %v", i, pair[i], want)
			}
			wantPace := (py + m0*gpy/gpn) / (pd + m0*gpd/gpn) * train.TripDistance[i]
			if !near(float64(pace[i]), wantPace) {
				t.Errorf("row %d: got out-of-fold pace %v, want %v", i, pace[i], wantPace)
			}
			found = true
		}
		if !found {
			t.Fatalf("row %d has no fold", i)
		}
	}
}

// TestRowMatrixParity: serving (Row) computes exactly what batch scoring
// (Matrix, training false) computes, for every ride of a month, also after
// the spec went through JSON.
func TestRowMatrixParity(t *testing.T) {
	s := mustFit(t, features.Default(), tlcdata.CourseShared(t, "2021-01"))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var loaded features.Spec
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if loaded.Version != s.Version {
		t.Fatalf("got version %q after JSON, want %q", loaded.Version, s.Version)
	}
	valid := tlcdata.CourseShared(t, "2021-02")
	m := s.Matrix(valid, false)
	var row []float32
	for _, spec := range []*features.Spec{s, &loaded} {
		bad := 0
		for i := range valid.Len() {
			row = spec.Row(tripcast.Ride{
				PULocationID: int(valid.PULocationID[i]), DOLocationID: int(valid.DOLocationID[i]),
				TripDistance: valid.TripDistance[i], PickupTime: valid.PickupTime(i),
			}, row)
			for j, v := range row {
				w := m.Cols[j][i]
				if math.Float32bits(v) != math.Float32bits(w) && !(v != v && w != w) {
					if bad++; bad < 5 {
						t.Errorf("row %d feature %s: got Row %v, want Matrix %v", i, m.Names[j], v, w)
					}
				}
			}
		}
		if bad > 0 {
			t.Fatalf("%d values differ", bad)
		}
	}
	if len(m.Label) != valid.Len() || m.Label[0] != float32(valid.Duration[0]) {
		t.Fatalf("got %d labels, want %d equal to Duration", len(m.Label), valid.Len())
	}
}

func TestRowAllocs(t *testing.T) {
	s := mustFit(t, features.Default(), handTrips(t))
	dst := make([]float32, len(s.Features))
	r := tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 2.5, PickupTime: time.Date(2021, 2, 1, 8, 15, 0, 0, time.UTC)}
	if n := testing.AllocsPerRun(100, func() { dst = s.Row(r, dst) }); n != 0 {
		t.Fatalf("got %v allocations per Row, want 0", n)
	}
}

func TestSpecJSON(t *testing.T) {
	s := mustFit(t, features.Default(), handTrips(t))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		var got features.Spec
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		b2, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		if string(b2) != string(b) {
			t.Fatalf("got %s after a round trip, want %s", b2, b)
		}
	})
	for _, tc := range []struct {
		name, from, to, field string
	}{
		{"ErrTampered", `"y":42`, `"y":43`, "version"},
		{"ErrSource", `"source":"trip_distance"`, `"source":"fare"`, "features[2].source"},
		{"ErrKind", `"kind":"numeric","source":"trip_distance"`, `"kind":"categorical","source":"trip_distance"`, "features[2].kind"},
		{"ErrStat", `"stat":"duration"`, `"stat":"median"`, "encodings[0].stat"},
		{"ErrSmoothing", `"smoothing":3`, `"smoothing":-1`, "encodings[0].smoothing"},
		{"ErrFolds", `"folds":5`, `"folds":1`, "folds"},
		{"ErrZone", `"k":268,`, `"k":70756,`, "fitted.pair[0].k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(b), tc.from, tc.to, 1)
			if bad == string(b) {
				t.Fatalf("test broken: %q not in %s", tc.from, b)
			}
			var got features.Spec
			err := json.Unmarshal([]byte(bad), &got)
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != tc.field {
				t.Fatalf("got %v (field %q), want an EINVALID error on field %q", err, tripcast.ErrorField(err), tc.field)
			}
		})
	}
	t.Run("ErrSyntax", func(t *testing.T) {
		var got features.Spec
		if err := json.Unmarshal([]byte(`{"features": 3}`), &got); tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Fatalf("got %v, want an EINVALID error", err)
		}
	})
}

func BenchmarkRow(b *testing.B) {
	s := mustFit(b, features.Default(), tlcdata.CourseShared(b, "2021-01"))
	dst := make([]float32, len(s.Features))
	r := tripcast.Ride{PULocationID: 130, DOLocationID: 205, TripDistance: 3.66, PickupTime: time.Date(2021, 2, 1, 8, 15, 0, 0, time.UTC)}
	b.ReportAllocs()
	for b.Loop() {
		dst = s.Row(r, dst)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/ride")
}

// BenchmarkLoadCleanFeaturize is the whole path from a TLC file to a
// training matrix: read green 2021-01, clean it with the course rule, fit
// the encodings and build the out-of-fold training matrix.
func BenchmarkLoadCleanFeaturize(b *testing.B) {
	path := testfiles.Green(b, "2021-01")
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		t, _, err := tlc.LoadFile(path, tlc.RuleCourse)
		if err != nil {
			b.Fatal(err)
		}
		s := features.Default()
		if err := s.Fit(t); err != nil {
			b.Fatal(err)
		}
		m := s.Matrix(t, true)
		rows += m.Len()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkMatrix(b *testing.B) {
	train := tlcdata.CourseShared(b, "2021-01")
	s := mustFit(b, features.Default(), train)
	for _, training := range []bool{false, true} {
		name := "serving"
		if training {
			name = "training"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Matrix(train, training)
			}
			b.ReportMetric(float64(train.Len()*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestMatrixLeakage: validation labels never feed the features, and the
// out-of-fold training matrix is the same on every call (fixed seed).
func TestMatrixLeakage(t *testing.T) {
	train := tlcdata.CourseShared(t, "2021-01")
	s := mustFit(t, features.Default(), train)
	t.Run("ValidLabels", func(t *testing.T) {
		v := tlcdata.CourseShared(t, "2021-02")
		shuffled := *v
		shuffled.Duration = make([]float64, v.Len())
		for i := range shuffled.Duration {
			shuffled.Duration[i] = v.Duration[(i*7919)%v.Len()] + 5
		}
		a, b := s.Matrix(v, false), s.Matrix(&shuffled, false)
		for j := range a.Cols {
			for i := range a.Cols[j] {
				x, y := a.Cols[j][i], b.Cols[j][i]
				if x != y && !(x != x && y != y) {
					t.Fatalf("feature %s row %d: got %v with other labels, want %v", a.Names[j], i, y, x)
				}
			}
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		a, b := s.Matrix(train, true), s.Matrix(train, true)
		for j := range a.Cols {
			for i := range a.Cols[j] {
				if math.Float32bits(a.Cols[j][i]) != math.Float32bits(b.Cols[j][i]) {
					t.Fatalf("feature %s row %d: got %v then %v, want equal", a.Names[j], i, a.Cols[j][i], b.Cols[j][i])
				}
			}
		}
	})
}
