package model_test

import (
	"bytes"
	"strings"
	"testing"

	"tripcast"
	"tripcast/model"
)

// TestPredictCSVRideColumns reads ride columns as a ride event's fields are
// read (serve.ParseRide): plain decimal numbers, the same ranges, the field
// and the line named in errors.
func TestPredictCSVRideColumns(t *testing.T) {
	// duration = 2 + 3·miles, +10 for the pair (254, 227).
	a, err := model.Read(strings.NewReader(`{"tripcast_kind": "linear", "model": {"type": "tripcast.linear.ridge/v1",
		"alpha": 1e-6, "intercept": 2, "trip_distance": 3, "rows": 1, "pairs": [{"pu": 254, "do": 227, "coef": 10, "n": 1}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		var out bytes.Buffer
		in := "PULocationID,DOLocationID,trip_distance,pickup_datetime\n254,227,2,2026-12-04T15:35:21.265562\n254.0,227,0.5,\n1,2,-0,2021-01-01 00:15:56\n"
		n, err := a.PredictCSV(strings.NewReader(in), &out)
		if want := "prediction\n18\n13.5\n2\n"; err != nil || n != 3 || out.String() != want {
			t.Errorf("got %d rows %q, %v, want 3 rows %q", n, out.String(), err, want)
		}
	})
	for _, tc := range []struct{ name, row, field, msg string }{
		{"ErrNotNumber", "abc,227,2,", "PULocationID", `got string "abc"`},
		{"ErrExponent", "254,227,1e400,", "trip_distance", `got string "1e400"`},
		{"ErrSpace", "254, 227,2,", "DOLocationID", `got string " 227"`},
		{"ErrEmpty", "254,227,,", "trip_distance", "missing"},
		{"ErrNaN", "254,227,NaN,", "trip_distance", `must be a finite number, got string "NaN"`},
		{"ErrInfinity", "254,227,Infinity,", "trip_distance", `must be a finite number, got string "Infinity"`},
		{"ErrZoneFraction", "130.5,227,2,", "PULocationID", "must be an integer taxi zone"},
		{"ErrZoneRange", "254,0,2,", "DOLocationID", "between 1 and 265"},
		{"ErrDistanceRange", "254,227,-1,", "trip_distance", "between 0 and 500 miles"},
		{"ErrPickup", "254,227,2,12/04/2026", "pickup_datetime", "must be a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "PULocationID,DOLocationID,trip_distance,pickup_datetime\n254,227,1,\n" + tc.row + "\n"
			n, err := a.PredictCSV(strings.NewReader(in), &bytes.Buffer{})
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != tc.field ||
				!strings.Contains(tripcast.ErrorMessage(err), "input CSV line 3: ") || !strings.Contains(tripcast.ErrorMessage(err), tc.msg) {
				t.Errorf("got %d rows, %v, want an %s error on %s, line 3, containing %q", n, err, tripcast.EINVALID, tc.field, tc.msg)
			}
		})
	}
}
