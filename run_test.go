package tripcast_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"tripcast"
)

func TestMetricJSON(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		v    float64
		want string
	}{
		{"OK", 6.25, `{"key":"rmse","value":6.25,"step":3,"timestamp":"2026-01-02T03:04:05Z"}`},
		{"NaN", math.NaN(), `{"key":"rmse","value":null,"step":3,"timestamp":"2026-01-02T03:04:05Z"}`},
		{"Inf", math.Inf(1), `{"key":"rmse","value":null,"step":3,"timestamp":"2026-01-02T03:04:05Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tripcast.Metric{Key: "rmse", Value: tc.v, Step: 3, Timestamp: ts})
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
			var back tripcast.Metric
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Step != 3 || !back.Timestamp.Equal(ts) || (back.Value != tc.v && !math.IsNaN(back.Value)) {
				t.Errorf("got %+v back, want value %v", back, tc.v)
			}
		})
	}
}
