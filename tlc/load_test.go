package tlc_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

func TestLoadFile(t *testing.T) {
	t.Run("OK/Course", func(t *testing.T) {
		for _, tc := range []struct {
			month      string
			read, kept int
		}{
			{"2021-01", 76518, 73908},
			{"2021-02", 64572, 61921},
		} {
			trips, rep, err := tlc.LoadFile(testfiles.Green(t, tc.month), tlc.RuleCourse)
			if err != nil {
				t.Fatal(err)
			}
			if rep.RowsRead != tc.read || rep.RowsKept != tc.kept || trips.Len() != tc.kept {
				t.Fatalf("%s: got read %d kept %d len %d, want %d, %d", tc.month, rep.RowsRead, rep.RowsKept, trips.Len(), tc.read, tc.kept)
			}
			if got, want := rep.Dropped[tlc.DropDuration], tc.read-tc.kept; got != want || len(rep.Dropped) != 1 {
				t.Fatalf("%s: got dropped %v, want only %s=%d", tc.month, rep.Dropped, tlc.DropDuration, want)
			}
			if rep.Color != "green" || rep.Month != tc.month || rep.Rule != "course" {
				t.Fatalf("got color %q month %q rule %q, want green %s course", rep.Color, rep.Month, rep.Rule, tc.month)
			}
			checkTrips(t, trips)
		}
	})
	t.Run("OK/Default", func(t *testing.T) {
		// Drop counts of every check on every real month; the README's
		// Ingest section documents these figures.
		want := map[string]map[string]int{
			"2021-01": {"duration_out_of_range": 2610, "pickup_outside_month": 2, "distance_absurd": 62},
			"2021-02": {"duration_out_of_range": 2651, "pickup_outside_month": 1, "distance_absurd": 26},
			"2021-03": {"duration_out_of_range": 3455, "distance_absurd": 23},
			"2022-01": {"duration_out_of_range": 2892, "pickup_outside_month": 2, "distance_absurd": 60},
			"2022-02": {"duration_out_of_range": 3302, "pickup_outside_month": 19, "distance_absurd": 75},
			"2023-01": {"duration_out_of_range": 2265, "pickup_outside_month": 3, "distance_absurd": 37},
			"2023-02": {"duration_out_of_range": 2235, "pickup_outside_month": 23, "distance_absurd": 38},
			"2023-03": {"duration_out_of_range": 2652, "pickup_outside_month": 8, "distance_absurd": 54},
			"2024-03": {"duration_out_of_range": 2318, "pickup_outside_month": 6, "distance_absurd": 17},
		}
		for m, drops := range want {
			trips, rep, err := tlc.LoadFile(testfiles.Green(t, m), tlc.RuleDefault)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			for _, r := range tlc.RuleDefault.Reasons() {
				if got := rep.Dropped[r]; got != drops[r] {
					t.Errorf("%s %s: got %d dropped, want %d", m, r, got, drops[r])
				}
				dropped += rep.Dropped[r]
			}
			if rep.RowsKept+dropped != rep.RowsRead || trips.Len() != rep.RowsKept {
				t.Errorf("%s: got kept %d + dropped %d, len %d, want read %d", m, rep.RowsKept, dropped, trips.Len(), rep.RowsRead)
			}
			checkTrips(t, trips)
			lo, _ := time.Parse("2006-01", m)
			for i := range trips.Len() {
				p := trips.PickupTime(i)
				if p.Before(lo) || !p.Before(lo.AddDate(0, 1, 0)) {
					t.Fatalf("%s: got pickup %s, want in the month", m, p)
				}
				if d := trips.TripDistance[i]; d < 0 || d > tlc.MaxDistance {
					t.Fatalf("%s: got distance %v, want 0..%v", m, d, tlc.MaxDistance)
				}
				if !validZone(trips.PULocationID[i]) || !validZone(trips.DOLocationID[i]) {
					t.Fatalf("%s: got zones %d, %d, want 1..265", m, trips.PULocationID[i], trips.DOLocationID[i])
				}
			}
		}
	})
	t.Run("OK/MonthOption", func(t *testing.T) {
		// A name without a month, the month given explicitly.
		dst := filepath.Join(t.TempDir(), "january.parquet")
		copyFile(t, testfiles.Green(t, "2021-01"), dst)
		_, rep, err := tlc.LoadFileOptions(dst, tlc.Options{Rule: tlc.RuleDefault, Month: "2021-01"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.RowsKept != 73844 || rep.Month != "2021-01" {
			t.Fatalf("got kept %d month %q, want 73844 2021-01", rep.RowsKept, rep.Month)
		}
	})
	t.Run("ErrNoMonth", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "january.parquet")
		copyFile(t, testfiles.Green(t, "2021-01"), dst)
		_, _, err := tlc.LoadFile(dst, tlc.RuleDefault)
		if err == nil || !strings.Contains(err.Error(), "YYYY-MM") || tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Fatalf("got %v, want an invalid error asking for the month", err)
		}
		// The course rule does not need the month.
		if _, _, err := tlc.LoadFile(dst, tlc.RuleCourse); err != nil {
			t.Fatalf("got %v, want no error with the course rule", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, _, err := tlc.LoadFile(filepath.Join(t.TempDir(), "2021-01.parquet"), tlc.RuleCourse)
		if got := tripcast.ErrorCode(err); got != tripcast.ENOTFOUND {
			t.Fatalf("got %v (%s), want %s", err, got, tripcast.ENOTFOUND)
		}
	})
}

// TestRead compares the fast column reader with parquet-go's row reader,
// value by value, on both schema generations.
func TestRead(t *testing.T) {
	for _, m := range []string{"2021-01", "2023-03"} {
		t.Run("OK/"+m, func(t *testing.T) {
			data, err := os.ReadFile(testfiles.Green(t, m))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), m+".parquet")
			if err != nil {
				t.Fatal(err)
			}
			want := readRows(t, data)
			got := raw.Trips
			if got.Len() != want.Len() {
				t.Fatalf("got %d rows, want %d", got.Len(), want.Len())
			}
			for i := range got.Len() {
				if got.Pickup[i] != want.Pickup[i] || got.Dropoff[i] != want.Dropoff[i] ||
					got.PULocationID[i] != want.PULocationID[i] || got.DOLocationID[i] != want.DOLocationID[i] ||
					!sameFloat(got.TripDistance[i], want.TripDistance[i]) || !sameFloat(got.PassengerCount[i], want.PassengerCount[i]) ||
					!sameFloat(got.FareAmount[i], want.FareAmount[i]) || !sameFloat(got.TotalAmount[i], want.TotalAmount[i]) {
					t.Fatalf("row %d: got %v, want %v", i, row(got, i), row(want, i))
				}
			}
		})
	}
	t.Run("OK/NullPassengerCount", func(t *testing.T) {
		// 2021-01 has 36,047 rows with a null passenger_count (README).
		_, rep, err := tlc.LoadFile(testfiles.Green(t, "2021-01"), tlc.RuleCourse)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(testfiles.Green(t, "2021-01"))
		raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), rep.File)
		if err != nil {
			t.Fatal(err)
		}
		nulls := 0
		for _, v := range raw.Trips.PassengerCount {
			if math.IsNaN(v) {
				nulls++
			}
		}
		if nulls != 36047 {
			t.Fatalf("got %d null passenger counts, want 36047", nulls)
		}
	})
}

// readRows reads the same columns through parquet-go's row API (slow, but
// independent of tlc's page decoding).
func readRows(t *testing.T, data []byte) *tripcast.Trips {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	idx := func(name string) int {
		leaf, ok := f.Schema().Lookup(name)
		if !ok {
			t.Fatalf("no column %s", name)
		}
		return leaf.ColumnIndex
	}
	cPick, cDrop, cPU, cDO := idx("lpep_pickup_datetime"), idx("lpep_dropoff_datetime"), idx("PULocationID"), idx("DOLocationID")
	cDist, cPass, cFare, cTot := idx("trip_distance"), idx("passenger_count"), idx("fare_amount"), idx("total_amount")
	num := func(v parquet.Value) float64 {
		switch {
		case v.IsNull():
			return math.NaN()
		case v.Kind() == parquet.Double:
			return v.Double()
		case v.Kind() == parquet.Int64:
			return float64(v.Int64())
		default:
			return float64(v.Int32())
		}
	}
	id := func(v parquet.Value) int32 {
		if v.IsNull() {
			return 0
		}
		if v.Kind() == parquet.Int64 {
			return int32(v.Int64())
		}
		return v.Int32()
	}
	tm := func(v parquet.Value) int64 {
		if v.IsNull() {
			return tlc.NullTime
		}
		return v.Int64()
	}
	tr := &tripcast.Trips{}
	rows := f.RowGroups()[0].Rows()
	defer rows.Close()
	buf := make([]parquet.Row, 1000)
	for {
		n, err := rows.ReadRows(buf)
		for _, r := range buf[:n] {
			byCol := make(map[int]parquet.Value, len(r))
			for _, v := range r {
				byCol[v.Column()] = v
			}
			tr.Pickup = append(tr.Pickup, tm(byCol[cPick]))
			tr.Dropoff = append(tr.Dropoff, tm(byCol[cDrop]))
			tr.PULocationID = append(tr.PULocationID, id(byCol[cPU]))
			tr.DOLocationID = append(tr.DOLocationID, id(byCol[cDO]))
			tr.TripDistance = append(tr.TripDistance, num(byCol[cDist]))
			tr.PassengerCount = append(tr.PassengerCount, num(byCol[cPass]))
			tr.FareAmount = append(tr.FareAmount, num(byCol[cFare]))
			tr.TotalAmount = append(tr.TotalAmount, num(byCol[cTot]))
		}
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func row(t *tripcast.Trips, i int) []any {
	return []any{t.Pickup[i], t.Dropoff[i], t.PULocationID[i], t.DOLocationID[i], t.TripDistance[i], t.PassengerCount[i], t.FareAmount[i], t.TotalAmount[i]}
}

func validZone(id int32) bool { return id >= 1 && id <= 265 }

// checkTrips checks the columns have one length and Duration is right.
func checkTrips(t *testing.T, tr *tripcast.Trips) {
	t.Helper()
	n := tr.Len()
	for _, l := range []int{len(tr.Pickup), len(tr.Dropoff), len(tr.DOLocationID), len(tr.TripDistance),
		len(tr.PassengerCount), len(tr.FareAmount), len(tr.TotalAmount), len(tr.Duration)} {
		if l != n {
			t.Fatalf("got column of %d rows, want %d", l, n)
		}
	}
	for i := range n {
		d := tr.Duration[i]
		if d < 1 || d > 60 || d != float64(tr.Dropoff[i]-tr.Pickup[i])/60e6 {
			t.Fatalf("row %d: got duration %v for %d..%d, want 1..60 minutes", i, d, tr.Pickup[i], tr.Dropoff[i])
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// yellowRow is a yellow-taxi record as the TLC writes them, with nanosecond
// timestamps (as pandas/arrow write them by default).
type yellowRow struct {
	VendorID       int32      `parquet:"VendorID"`
	Pickup         time.Time  `parquet:"tpep_pickup_datetime,timestamp(nanosecond)"`
	Dropoff        *time.Time `parquet:"tpep_dropoff_datetime,timestamp(nanosecond),optional"`
	PassengerCount *float64   `parquet:"passenger_count,optional"`
	TripDistance   float64    `parquet:"trip_distance"`
	PULocationID   int64      `parquet:"PULocationID"`
	DOLocationID   *int32     `parquet:"DOLocationID,optional"`
	FareAmount     float64    `parquet:"fare_amount"`
	TotalAmount    float64    `parquet:"total_amount"`
}

func ptr[T any](v T) *T { return &v }

func TestLoadYellow(t *testing.T) {
	base := time.Date(2024, 2, 1, 8, 30, 0, 0, time.UTC)
	at := func(min float64) *time.Time { p := base.Add(time.Duration(min * float64(time.Minute))); return &p }
	rows := []yellowRow{
		{1, base, at(12.5), ptr(1.0), 2.1, 161, ptr[int32](236), 13.5, 20.3},              // kept
		{2, base, at(0.5), nil, 0.1, 161, ptr[int32](161), 3, 4},                          // duration
		{2, base, nil, ptr(2.0), 1, 161, ptr[int32](162), 3, 4},                           // null dropoff: duration
		{1, base.AddDate(0, -1, 0), at(-44640 + 10), ptr(1.0), 1, 7, ptr[int32](7), 5, 6}, // previous month
		{1, base, at(20), ptr(1.0), 3, 161, nil, 14, 18},                                  // null DOLocationID
		{1, base, at(20), ptr(1.0), 3, 266, ptr[int32](1), 14, 18},                        // zone 266
		{1, base, at(20), ptr(1.0), -3, 161, ptr[int32](1), 14, 18},                       // negative distance
		{1, base, at(20), ptr(1.0), 150, 161, ptr[int32](1), 14, 18},                      // absurd distance
		{1, base.Add(time.Hour), at(61.25), ptr(3.0), 0.7, 43, ptr[int32](142), 7, 9},     // kept
	}
	path := filepath.Join(t.TempDir(), "yellow_tripdata_2024-02.parquet")
	writeParquet(t, path, rows)

	t.Run("OK", func(t *testing.T) {
		trips, rep, err := tlc.LoadFile(path, tlc.RuleDefault)
		if err != nil {
			t.Fatal(err)
		}
		wantDrops := map[string]int{"duration_out_of_range": 2, "pickup_outside_month": 1, "null_required": 1,
			"zone_unknown": 1, "distance_negative": 1, "distance_absurd": 1}
		if rep.Color != "yellow" || rep.RowsRead != 9 || rep.RowsKept != 2 {
			t.Fatalf("got color %q read %d kept %d, want yellow 9 2", rep.Color, rep.RowsRead, rep.RowsKept)
		}
		for k, v := range wantDrops {
			if rep.Dropped[k] != v {
				t.Errorf("got %s=%d, want %d (%v)", k, rep.Dropped[k], v, rep.Dropped)
			}
		}
		if got, want := trips.PickupTime(0), base; !got.Equal(want) {
			t.Errorf("got pickup %s, want %s", got, want)
		}
		if trips.Duration[0] != 12.5 || trips.Duration[1] != 1.25 {
			t.Errorf("got durations %v, want [12.5 1.25]", trips.Duration)
		}
		if trips.PULocationID[1] != 43 || trips.DOLocationID[1] != 142 || trips.PassengerCount[1] != 3 || trips.TotalAmount[0] != 20.3 {
			t.Errorf("got row 1 %v, want zones 43→142, 3 passengers", row(trips, 1))
		}
	})
	t.Run("OK/Course", func(t *testing.T) {
		_, rep, err := tlc.LoadFile(path, tlc.RuleCourse)
		if err != nil {
			t.Fatal(err)
		}
		if rep.RowsKept != 7 {
			t.Fatalf("got kept %d, want 7 (%v)", rep.RowsKept, rep.Dropped)
		}
	})
}

func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// corrupt returns a copy of a parquet file with garbage in the middle of its
// column data (footer intact).
func corrupt(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := 200; i < len(c)*3/4; i += 97 {
		c[i] ^= 0x5a
	}
	return c
}

// TestLoadBadFiles checks every kind of bad file fails with an error naming
// the file and the problem.
func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	real, err := os.ReadFile(testfiles.Green(t, "2021-01"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type otherRow struct {
		Pickup  int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
		Dropoff int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
		PU      int64   `parquet:"PULocationID"`
		Fare    float64 `parquet:"fare_amount"`
	}
	type unrelatedRow struct {
		A int64  `parquet:"a"`
		B string `parquet:"b"`
	}
	type stringZone struct {
		Pickup  int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
		Dropoff int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
		PU      string  `parquet:"PULocationID"`
		DO      int32   `parquet:"DOLocationID"`
		Dist    float64 `parquet:"trip_distance"`
		Pass    float64 `parquet:"passenger_count"`
		Fare    float64 `parquet:"fare_amount"`
		Total   float64 `parquet:"total_amount"`
	}
	type plainTime struct {
		Pickup  int64   `parquet:"lpep_pickup_datetime"`
		Dropoff int64   `parquet:"lpep_dropoff_datetime"`
		PU      int32   `parquet:"PULocationID"`
		DO      int32   `parquet:"DOLocationID"`
		Dist    float64 `parquet:"trip_distance"`
		Pass    float64 `parquet:"passenger_count"`
		Fare    float64 `parquet:"fare_amount"`
		Total   float64 `parquet:"total_amount"`
	}
	wrongSchema := filepath.Join(dir, "green_tripdata_2021-01-other.parquet")
	writeParquet(t, wrongSchema, []otherRow{{1, 2, 3, 4}})
	unrelated := filepath.Join(dir, "green_tripdata_2021-05.parquet")
	writeParquet(t, unrelated, []unrelatedRow{{1, "x"}})
	badType := filepath.Join(dir, "green_tripdata_2021-06.parquet")
	writeParquet(t, badType, []stringZone{{1, 2, "7", 8, 1, 1, 1, 1}})
	noUnit := filepath.Join(dir, "green_tripdata_2021-07.parquet")
	writeParquet(t, noUnit, []plainTime{{1, 2, 7, 8, 1, 1, 1, 1}})
	noRows := filepath.Join(dir, "green_tripdata_2021-08.parquet")
	writeParquet(t, noRows, []plainTime{})
	// Every row of this month is outside 1..60 minutes.
	allShort := filepath.Join(dir, "green_tripdata_2021-09.parquet")
	sep := time.Date(2021, 9, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	writeParquet(t, allShort, []otherRow{})
	type greenRow struct {
		Pickup  int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
		Dropoff int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
		PU      int32   `parquet:"PULocationID"`
		DO      int32   `parquet:"DOLocationID"`
		Dist    float64 `parquet:"trip_distance"`
		Pass    float64 `parquet:"passenger_count"`
		Fare    float64 `parquet:"fare_amount"`
		Total   float64 `parquet:"total_amount"`
	}
	writeParquet(t, allShort, []greenRow{{sep, sep + 30e6, 7, 8, 1, 1, 1, 1}, {sep, sep + 90*60e6, 7, 8, 1, 1, 1, 1}})

	for _, tc := range []struct {
		name, path, want string
	}{
		{"ErrTruncated", write("green_tripdata_2021-01.parquet", real[:len(real)/2]), "truncated"},
		{"ErrTruncatedFooter", write("green_tripdata_2021-02.parquet", append(append([]byte{}, real[:len(real)-2000]...), "PAR1"...)), "unreadable parquet footer"},
		{"ErrCorruptData", write("green_tripdata_2021-10.parquet", corrupt(real)), "corrupt column"},
		{"ErrNotParquet", write("green_tripdata_2021-03.parquet", []byte("VendorID,lpep_pickup_datetime\n1,2021-01-01 00:15:56\n")), "not a parquet file"},
		{"ErrEmpty", write("green_tripdata_2021-04.parquet", nil), "empty file"},
		{"ErrMissingColumn", wrongSchema, "missing required column DOLocationID, trip_distance, passenger_count, total_amount"},
		{"ErrNotTLC", unrelated, "missing required column lpep_pickup_datetime"},
		{"ErrColumnType", badType, "column PULocationID: type BYTE_ARRAY is not an integer"},
		{"ErrTimestampUnit", noUnit, "column lpep_pickup_datetime: INT64 without a timestamp type"},
		{"ErrNoRows", noRows, "empty file (no rows)"},
		{"ErrNoRowsLeft", allShort, "no rows left after cleaning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tlc.LoadFile(tc.path, tlc.RuleDefault)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want the file name and %q", err, tc.want)
			}
			var te *tripcast.Error
			if !errors.As(err, &te) || te.Code != tripcast.EINVALID {
				t.Fatalf("got code %q, want %q", tripcast.ErrorCode(err), tripcast.EINVALID)
			}
		})
	}
}

func TestClean(t *testing.T) {
	t.Run("OK/CopyLeavesInput", func(t *testing.T) {
		data, err := os.ReadFile(testfiles.Green(t, "2021-02"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), "x.parquet")
		if err != nil {
			t.Fatal(err)
		}
		first := row(raw.Trips, 0)
		var rep tlc.Report
		trips, err := tlc.Clean(raw.Trips, tlc.RuleDefault, "2021-02", &rep)
		if err != nil {
			t.Fatal(err)
		}
		if trips.Len() != 61894 || rep.RowsKept != 61894 || raw.Trips.Len() != 64572 {
			t.Fatalf("got %d kept of %d, want 61894 of 64572", trips.Len(), raw.Trips.Len())
		}
		if got := row(raw.Trips, 0); got[0] != first[0] || got[2] != first[2] {
			t.Fatalf("got first row %v after Clean, want %v", got, first)
		}
		want, _, err := tlc.LoadFile(testfiles.Green(t, "2021-02"), tlc.RuleDefault)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want.Len() {
			if want.Pickup[i] != trips.Pickup[i] || want.Duration[i] != trips.Duration[i] {
				t.Fatalf("row %d: got %v, want %v", i, row(trips, i), row(want, i))
			}
		}
	})
	t.Run("ErrUnknownRule", func(t *testing.T) {
		if _, err := tlc.Clean(&tripcast.Trips{}, tlc.Rule(7), "2021-01", nil); err == nil {
			t.Fatal("got no error, want unknown rule")
		}
	})
}

func TestParseRule(t *testing.T) {
	for in, want := range map[string]tlc.Rule{"course": tlc.RuleCourse, "default": tlc.RuleDefault, "": tlc.RuleDefault, " Course ": tlc.RuleCourse} {
		got, err := tlc.ParseRule(in)
		if err != nil || got != want {
			t.Fatalf("ParseRule(%q): got %v, %v, want %v", in, got, err, want)
		}
	}
	if _, err := tlc.ParseRule("strict"); tripcast.ErrorField(err) != "rule" {
		t.Fatalf("got %v, want a rule field error", err)
	}
	b, err := tlc.RuleCourse.MarshalText()
	if err != nil || string(b) != "course" {
		t.Fatalf("got %q, %v, want course", b, err)
	}
}

// TestLoadRows checks the row numbers of kept trips: positions in a TLC
// file, and the RowColumn's values in a file that has one.
func TestLoadRows(t *testing.T) {
	path := testfiles.Green(t, "2021-02")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), path)
	if err != nil {
		t.Fatal(err)
	}
	trips, rows, rep, err := tlc.LoadRows(bytes.NewReader(data), int64(len(data)), path, tlc.Options{Rule: tlc.RuleDefault})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK/TLCFile", func(t *testing.T) {
		if raw.Rows != nil {
			t.Fatalf("got %d row numbers from a TLC file, want none", len(raw.Rows))
		}
		if len(rows) != trips.Len() || trips.Len() != rep.RowsKept || rows[len(rows)-1] == int32(len(rows)-1) {
			t.Fatalf("got %d row numbers for %d trips (last %d), want one per trip with the dropped rows skipped", len(rows), trips.Len(), rows[len(rows)-1])
		}
		for i, r := range rows {
			if i > 0 && r <= rows[i-1] {
				t.Fatalf("trip %d: got row %d after %d, want increasing", i, r, rows[i-1])
			}
			if raw.Trips.Pickup[r] != trips.Pickup[i] || raw.Trips.DOLocationID[r] != trips.DOLocationID[i] {
				t.Fatalf("trip %d: the file's row %d is another trip", i, r)
			}
		}
	})
	t.Run("OK/RowColumn", func(t *testing.T) {
		// A file holding the odd rows of the month, each with its row
		// number: cleaning it gives the month's odd kept rows' numbers.
		type oddRow struct {
			Pickup   int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
			Dropoff  int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
			PU       int32   `parquet:"PULocationID"`
			DO       int32   `parquet:"DOLocationID"`
			Distance float64 `parquet:"trip_distance"`
			Pass     float64 `parquet:"passenger_count"`
			Fare     float64 `parquet:"fare_amount"`
			Total    float64 `parquet:"total_amount"`
			Row      int32   `parquet:"tlc_row"`
		}
		var odd []oddRow
		r := raw.Trips
		for i := 1; i < r.Len(); i += 2 {
			odd = append(odd, oddRow{r.Pickup[i], r.Dropoff[i], r.PULocationID[i], r.DOLocationID[i],
				r.TripDistance[i], r.PassengerCount[i], r.FareAmount[i], r.TotalAmount[i], int32(i)})
		}
		var buf bytes.Buffer
		if err := parquet.Write(&buf, odd); err != nil {
			t.Fatal(err)
		}
		_, got, _, err := tlc.LoadRows(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "green_tripdata_2021-02.parquet", tlc.Options{Rule: tlc.RuleDefault})
		if err != nil {
			t.Fatal(err)
		}
		var want []int32
		for _, r := range rows {
			if r%2 == 1 {
				want = append(want, r)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %d row numbers, want the %d odd rows kept from the TLC file", len(got), len(want))
		}
	})
}
