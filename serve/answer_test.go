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
		if err != nil || got.RideID != "256" || got.RideDuration != 21.3 {
			t.Errorf("got %+v, %v, want ride 256, 21.3", got, err)
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
