package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/httpapi"
	"tripcast/predlog"
	"tripcast/sqlstore/sqlstoretest"
)

// send does req and returns the answer with its body read.
func send(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// post builds a POST of body to path with the given headers (name, value…).
func (e *env) post(t testing.TB, path, body string, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// logged flushes the parquet prediction log and returns what it holds.
func (e *env) logged(t testing.TB) []tripcast.PredictionRecord {
	t.Helper()
	if err := e.plog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := predlog.Read(context.Background(), e.store, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// generatedID is the form of a generated ride_id: a version 4 UUID.
var generatedID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCoursePredict(t *testing.T) {
	e := MustServe(t, httpapi.Config{})
	const ride = `{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}`
	t.Run("ErrUnavailable", func(t *testing.T) {
		code, body := e.do(t, "POST", "/predict", "application/json", ride)
		if code != 503 || body != `{"error":"no model loaded"}` {
			t.Errorf("got %d %s, want 503 no model loaded", code, body)
		}
	})
	e.pred.Swap(linearModel{ver: "12"})
	var id string
	t.Run("OK", func(t *testing.T) {
		resp, body := send(t, e.post(t, "/predict", ride, "Content-Type", "application/json"))
		if resp.StatusCode != 200 || body != `{"duration":62,"model_version":"12"}` {
			t.Errorf("got %d %s, want 200 {\"duration\":62,\"model_version\":\"12\"}", resp.StatusCode, body)
		}
		if id = resp.Header.Get("X-Ride-ID"); !generatedID.MatchString(id) {
			t.Errorf("got X-Ride-ID %q, want a generated UUID", id)
		}
	})
	for _, tc := range []struct{ name, in, want string }{
		{"ErrMissing", `{"PULocationID": 10, "DOLocationID": 50}`, `{"error":"missing","field":"trip_distance"}`},
		{"ErrZone", `{"PULocationID": 10, "DOLocationID": 500, "trip_distance": 40}`, `{"error":"must be a taxi zone between 1 and 265, got 500","field":"DOLocationID"}`},
		{"ErrType", `{"PULocationID": 10, "DOLocationID": 50, "trip_distance": "far"}`, `{"error":"must be a number or a string holding a plain decimal number such as \"12\" or \"3.5\", got string \"far\"","field":"trip_distance"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/predict", "application/json", tc.in)
			if code != 400 || body != tc.want {
				t.Errorf("got %d %s, want 400 %s", code, body, tc.want)
			}
		})
	}
	t.Run("ErrMethod", func(t *testing.T) {
		code, body := e.do(t, "GET", "/predict", "", "")
		if code != 405 || !strings.Contains(body, "use POST") {
			t.Errorf("got %d %s, want 405", code, body)
		}
	})
	t.Run("OKLogged", func(t *testing.T) {
		recs := e.logged(t)
		if len(recs) != 1 {
			t.Fatalf("got %d logged predictions, want 1", len(recs))
		}
		r := recs[0]
		if r.RideID != id || r.RideIDNumeric || r.Source != tripcast.SourceHTTP || r.Version != "12" || r.Prediction != 62 ||
			r.PULocationID != 10 || r.DOLocationID != 50 || r.TripDistance != 40 {
			t.Errorf("got %+v, want ride %s, 62 minutes by version 12 from http", r, id)
		}
	})
}

func TestGeneratedRideID(t *testing.T) {
	e := MustServe(t, httpapi.Config{})
	e.pred.Swap(linearModel{ver: "2"})
	type answer struct {
		Prediction struct {
			RideID any `json:"ride_id"`
		} `json:"prediction"`
	}
	var ids []string
	t.Run("OK", func(t *testing.T) {
		for _, in := range []string{
			`{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}`,
			`{"ride_id": null, "ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}}`,
		} {
			code, body := e.do(t, "POST", "/v1/predict", "application/json", in)
			var a answer
			if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 {
				t.Fatalf("%s: got %d %s (%v), want 200", in, code, body, err)
			}
			id, _ := a.Prediction.RideID.(string)
			if !generatedID.MatchString(id) {
				t.Errorf("%s: got ride_id %v, want a generated UUID string", in, a.Prediction.RideID)
			}
			ids = append(ids, id)
		}
	})
	t.Run("OKBatch", func(t *testing.T) {
		in := `{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}` + "\n" +
			`{"ride_id": 7, "PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}` + "\n" +
			`{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}` + "\n" +
			`{"PULocationID": 0, "DOLocationID": 2, "trip_distance": 2}` + "\n"
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/x-ndjson", in)
		var as []answer
		if err := json.Unmarshal([]byte(body), &as); err != nil || code != 200 || len(as) != 4 {
			t.Fatalf("got %d %s (%v), want 200 with 4 answers", code, body, err)
		}
		a0, _ := as[0].Prediction.RideID.(string)
		a2, _ := as[2].Prediction.RideID.(string)
		if !generatedID.MatchString(a0) || !generatedID.MatchString(a2) || a0 == a2 {
			t.Errorf("got ride_ids %v and %v, want two different generated UUIDs", as[0].Prediction.RideID, as[2].Prediction.RideID)
		}
		if as[1].Prediction.RideID != float64(7) {
			t.Errorf("got ride_id %v, want the given 7", as[1].Prediction.RideID)
		}
		if !strings.Contains(body, `"field":"PULocationID","index":3}`) {
			t.Errorf("got %s, want the bad row's error at index 3", body)
		}
		ids = append(ids, a0, a2)
	})
	t.Run("OKLogged", func(t *testing.T) {
		logged := map[string]bool{}
		for _, r := range e.logged(t) {
			logged[r.RideID] = true
		}
		for _, id := range ids {
			if !logged[id] {
				t.Errorf("ride %s answered but not logged (logged: %v)", id, logged)
			}
		}
		if len(logged) != 5 {
			t.Errorf("got %d logged rides, want 5", len(logged))
		}
	})
}

// TestControlCharacterRideID sends a ride_id with a NUL (which PostgreSQL
// cannot store) to a server logging to PostgreSQL: the request gets 400
// naming ride_id, and the log keeps working for the next requests.
func TestControlCharacterRideID(t *testing.T) {
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshPostgres(t))
	sql := predlog.Buffered(db.PredictionLog(), predlog.Options{FlushInterval: 10 * time.Millisecond})
	defer sql.Close()
	e := MustServe(t, httpapi.Config{PredictionLog: sql})
	e.pred.Swap(linearModel{ver: "1"})
	for _, path := range []string{"/v1/predict", "/predict"} {
		code, body := e.do(t, "POST", path, "application/json", `{"ride_id":"nul\u0000id","PULocationID":1,"DOLocationID":2,"trip_distance":2}`)
		if code != 400 || !strings.Contains(body, `"field":"ride_id"`) || !strings.Contains(body, "control characters") {
			t.Errorf("%s: got %d %s, want 400 naming ride_id", path, code, body)
		}
	}
	code, body := e.do(t, "POST", "/v1/predict/batch", "application/json",
		`[{"ride_id":"bell\u0007","PULocationID":1,"DOLocationID":2,"trip_distance":2},{"ride_id":"after-batch","PULocationID":1,"DOLocationID":2,"trip_distance":2}]`)
	if code != 200 || !strings.Contains(body, `"field":"ride_id","index":0}`) {
		t.Errorf("batch: got %d %s, want 200 with ride_id refused at index 0", code, body)
	}
	if code, body := e.do(t, "POST", "/v1/predict", "application/json", `{"ride_id":"after-nul","PULocationID":1,"DOLocationID":2,"trip_distance":2}`); code != 200 {
		t.Fatalf("got %d %s, want 200", code, body)
	}
	if err := sql.Flush(context.Background()); err != nil {
		t.Fatalf("flush the PostgreSQL log: %v", err)
	}
	for _, id := range []string{"after-nul", "after-batch"} {
		recs, err := db.GetPredictions(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Source != tripcast.SourceHTTP {
			t.Errorf("ride %s: got %+v, want one prediction logged in PostgreSQL", id, recs)
		}
	}
}

func TestContentEncoding(t *testing.T) {
	e := MustServe(t, httpapi.Config{})
	e.pred.Swap(linearModel{ver: "1"})
	for _, path := range []string{"/v1/predict", "/v1/predict/batch", "/predict"} {
		body := event
		if path == "/v1/predict/batch" {
			body = "[" + event + "]"
		}
		t.Run("Err"+path, func(t *testing.T) {
			for _, enc := range []string{"gzip", "identity, br"} {
				resp, got := send(t, e.post(t, path, body, "Content-Type", "application/json", "Content-Encoding", enc))
				if resp.StatusCode != 415 || !strings.Contains(got, `"field":"Content-Encoding"`) || !strings.Contains(got, "uncompressed") {
					t.Errorf("%s: got %d %s, want 415 naming Content-Encoding", enc, resp.StatusCode, got)
				}
				if a := resp.Header.Get("Accept-Encoding"); a != "identity" {
					t.Errorf("got Accept-Encoding %q, want identity", a)
				}
			}
		})
		t.Run("OK"+path, func(t *testing.T) {
			resp, got := send(t, e.post(t, path, body, "Content-Type", "application/json", "Content-Encoding", "identity"))
			if resp.StatusCode != 200 {
				t.Errorf("got %d %s, want 200", resp.StatusCode, got)
			}
		})
	}
}
