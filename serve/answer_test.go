package serve_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"tripcast"
	"tripcast/serve"
)

func TestAppendPrediction(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		p := tripcast.Prediction{RideID: "256", Model: tripcast.DefaultModelName, Version: "3", RideDuration: 21.3}
		got := string(serve.MarshalPrediction(p))
		want := `{"model":"ride_duration_prediction_model","version":"3","prediction":{"ride_duration":21.3,"ride_id":"256"}}`
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
		back, err := serve.ParsePrediction([]byte(got))
		if err != nil || back != p {
			t.Errorf("got %+v, %v, want %+v", back, err, p)
		}
	})
	t.Run("OKMatchesEncodingJSON", func(t *testing.T) {
		for _, p := range []tripcast.Prediction{
			{RideID: "a\"b\\c\n\x01é\u2028", Model: "m<&>", Version: "1", RideDuration: 1e-7},
			{RideID: "x", Model: "m", Version: "2", RideDuration: 1e21},
			{RideID: "x", Model: "m", Version: "2", RideDuration: -0.000123},
			{RideID: "x", Model: "m", Version: "2", RideDuration: 123456789.125},
		} {
			var ref struct {
				Model      string `json:"model"`
				Version    string `json:"version"`
				Prediction struct {
					RideDuration float64 `json:"ride_duration"`
					RideID       string  `json:"ride_id"`
				} `json:"prediction"`
			}
			if err := json.Unmarshal(serve.MarshalPrediction(p), &ref); err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			if ref.Model != p.Model || ref.Version != p.Version || ref.Prediction.RideID != p.RideID || ref.Prediction.RideDuration != p.RideDuration {
				t.Errorf("got %+v, want %+v", ref, p)
			}
		}
	})
	t.Run("OKCourseNumericID", func(t *testing.T) {
		got, err := serve.ParsePrediction([]byte(`{"model": "m", "version": "v", "prediction": {"ride_duration": 21.3, "ride_id": 256}}`))
		if err != nil || got.RideID != "256" || !got.RideIDNumeric || got.RideDuration != 21.3 {
			t.Errorf("got %+v, %v, want numeric ride 256, 21.3", got, err)
		}
	})
	// ride_id is echoed with the JSON type it came with: an event's ride_id
	// goes through DecodeEvent, Predict and AppendPrediction, and
	// ParsePrediction reads the same ride back.
	t.Run("OKRideIDTypeEchoed", func(t *testing.T) {
		snap := &serve.Snapshot{Model: newLinear(3)}
		for _, tc := range []struct{ id, answerID string }{
			{`256`, `256`},
			{`"256"`, `"256"`},
			{`-7`, `-7`},
			{`2.56e2`, `256`},
			{`123456789012345678901234567890`, `123456789012345678901234567890`},
			{`"ride_1796398521264_3190"`, `"ride_1796398521264_3190"`},
			{`"a\"\u00e9"`, `"a\"é"`},
		} {
			r, err := serve.DecodeEvent([]byte(`{"ride_id":` + tc.id + `,"ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":2}}`))
			if err != nil {
				t.Fatalf("%s: %v", tc.id, err)
			}
			p, err := snap.Predict(r)
			if err != nil {
				t.Fatalf("%s: %v", tc.id, err)
			}
			out := serve.MarshalPrediction(p)
			wantOut := `{"model":"ride_duration_prediction_model","version":"3","prediction":{"ride_duration":11,"ride_id":` + tc.answerID + `}}`
			if string(out) != wantOut {
				t.Errorf("ride_id %s: got %s, want %s", tc.id, out, wantOut)
			}
			var ref struct {
				Prediction struct {
					RideID any `json:"ride_id"`
				} `json:"prediction"`
			}
			if err := json.Unmarshal(out, &ref); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			_, isNumber := ref.Prediction.RideID.(float64)
			if isNumber != (tc.id[0] != '"') {
				t.Errorf("ride_id %s: answer's ride_id is %T, want the type it came with", tc.id, ref.Prediction.RideID)
			}
			back, err := serve.ParsePrediction(out)
			if err != nil || back != p {
				t.Errorf("ride_id %s: got %+v, %v back, want %+v", tc.id, back, err, p)
			}
		}
	})
	t.Run("ErrParse", func(t *testing.T) {
		for _, in := range []string{`{`, `{"prediction":{"ride_id":"1"}}`, `{"prediction":{"ride_duration":1}}`} {
			if got, err := serve.ParsePrediction([]byte(in)); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("%s: got %+v, %v, want invalid", in, got, err)
			}
		}
	})
	t.Run("OKNonFiniteIsNull", func(t *testing.T) {
		if got := serve.AppendFloat(nil, math.NaN()); string(got) != "null" {
			t.Errorf("got %s, want null", got)
		}
	})
}

// FuzzAppendString checks AppendString against encoding/json: the output is
// valid JSON that decodes to the input (invalid UTF-8 replaced by U+FFFD).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b\\c\n\x01é", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := serve.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q: %s is not valid JSON: %v", s, out, err)
		}
		if want := string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD"))); back != want && utf8.ValidString(s) {
			t.Fatalf("%q: got %q back, want %q", s, back, want)
		}
	})
}

func BenchmarkAppendPrediction(b *testing.B) {
	p := tripcast.Prediction{RideID: "256", Model: tripcast.DefaultModelName, Version: "3", RideDuration: 21.337}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = serve.AppendPrediction(buf[:0], p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}
