package sample_test

import (
	"bytes"
	"math"
	"os"
	"testing"

	"tripcast"
	"tripcast/internal/sample"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// TestSample checks the built-in files are the real TLC months' even rows:
// read and cleaned by tlc, they give exactly the trips the TLC's own files
// give at their even rows, with those rows' numbers, under both rules.
func TestSample(t *testing.T) {
	paths, err := sample.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(sample.Months) {
		t.Fatalf("got %d files, want %d", len(paths), len(sample.Months))
	}
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	for i, month := range sample.Months {
		for _, rule := range []tlc.Rule{tlc.RuleDefault, tlc.RuleCourse} {
			got, gotRows, gotRep := load(t, paths[i], rule)
			all, allRows, allRep := load(t, testfiles.Green(t, month), rule)
			if gotRep.Month != month || gotRep.RowsRead != (allRep.RowsRead+1)/2 {
				t.Fatalf("%s %s: got %d rows read (month %q), want %d", month, rule, gotRep.RowsRead, gotRep.Month, (allRep.RowsRead+1)/2)
			}
			j := 0 // the next sample trip
			for k, row := range allRows {
				if row%2 != 0 {
					continue
				}
				if j >= got.Len() || gotRows[j] != row {
					t.Fatalf("%s %s: the TLC file's row %d is missing from the sample", month, rule, row)
				}
				if got.Pickup[j] != all.Pickup[k] || got.Dropoff[j] != all.Dropoff[k] ||
					got.PULocationID[j] != all.PULocationID[k] || got.DOLocationID[j] != all.DOLocationID[k] ||
					!same(got.TripDistance[j], all.TripDistance[k]) || !same(got.PassengerCount[j], all.PassengerCount[k]) ||
					!same(got.FareAmount[j], all.FareAmount[k]) || !same(got.TotalAmount[j], all.TotalAmount[k]) {
					t.Fatalf("%s %s: row %d differs from the TLC file's", month, rule, row)
				}
				j++
			}
			if j != got.Len() || j < 25000 {
				t.Fatalf("%s %s: got %d trips, %d of them matched in the TLC file", month, rule, got.Len(), j)
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
