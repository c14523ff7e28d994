package sample_test

import (
	"bytes"
	"math"
	"os"
	"slices"
	"testing"

	"tripcast"
	"tripcast/internal/sample"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// TestSample checks the built-in files are the real TLC months: read and
// cleaned by tlc, they give exactly the trips, row numbers and report of the
// TLC's own files, under both rules.
func TestSample(t *testing.T) {
	paths, err := sample.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(sample.Months) {
		t.Fatalf("got %d files, want %d", len(paths), len(sample.Months))
	}
	for i, month := range sample.Months {
		for _, rule := range []tlc.Rule{tlc.RuleDefault, tlc.RuleCourse} {
			got, gotRows, gotRep := load(t, paths[i], rule)
			want, wantRows, wantRep := load(t, testfiles.Green(t, month), rule)
			if got.Len() != want.Len() || gotRep.RowsRead != wantRep.RowsRead || gotRep.Month != month {
				t.Fatalf("%s %s: got %d of %d rows (month %q), want %d of %d", month, rule, got.Len(), gotRep.RowsRead, gotRep.Month, want.Len(), wantRep.RowsRead)
			}
			same := func(a, b float64) bool {
				return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
			}
			for j := range got.Len() {
				if got.Pickup[j] != want.Pickup[j] || got.Dropoff[j] != want.Dropoff[j] ||
					got.PULocationID[j] != want.PULocationID[j] || got.DOLocationID[j] != want.DOLocationID[j] ||
					!same(got.TripDistance[j], want.TripDistance[j]) || !same(got.PassengerCount[j], want.PassengerCount[j]) ||
					!same(got.FareAmount[j], want.FareAmount[j]) || !same(got.TotalAmount[j], want.TotalAmount[j]) {
					t.Fatalf("%s %s: trip %d differs from the TLC file's", month, rule, j)
				}
			}
			if !slices.Equal(gotRows, wantRows) {
				t.Fatalf("%s %s: row numbers differ from the TLC file's", month, rule)
			}
		}
	}
}

func load(t *testing.T, path string, rule tlc.Rule) (*tripcast.Trips, []int32, *tlc.Report) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	trips, rows, rep, err := tlc.LoadRows(bytes.NewReader(data), int64(len(data)), path, tlc.Options{Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	return trips, rows, rep
}
