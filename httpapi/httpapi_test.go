package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/blob"
	"tripcast/httpapi"
	"tripcast/internal/testlog"
	"tripcast/predlog"
	"tripcast/serve"
)

// linearModel is a real, deterministic model of our own Model interface:
// 2 + 1.5 * trip_distance minutes (NaN for a distance of 499.5, to exercise
// the refusal of non-finite answers).
type linearModel struct{ ver string }

func (m linearModel) Predict(r tripcast.Ride) (float64, error) {
	if r.TripDistance == 499.5 {
		return math.NaN(), nil
	}
	return 2 + 1.5*r.TripDistance, nil
}
func (m linearModel) Name() string    { return tripcast.DefaultModelName }
func (m linearModel) Version() string { return m.ver }

// env is a running server with its predictor, prediction log and logs.
type env struct {
	url   string
	srv   *httpapi.Server
	pred  *serve.Predictor
	plog  *predlog.Writer
	store tripcast.BlobStore
	reg   *prometheus.Registry
	logs  *testlog.Buffer
}

// MustServe starts a server on 127.0.0.1:0 with no model loaded.
func MustServe(t testing.TB, cfg httpapi.Config) *env {
	t.Helper()
	e := &env{reg: prometheus.NewRegistry(), logs: &testlog.Buffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	m, err := serve.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	e.pred = serve.New(serve.Options{Logger: logger, Metrics: m})
	store, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	e.plog = predlog.New(store, predlog.Options{Logger: logger})
	if cfg.PredictionLog == nil {
		cfg.PredictionLog = e.plog
	}
	e.srv, err = httpapi.New(cfg, e.pred, logger, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln) }()
	e.url = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: got %v, want nil after Shutdown", err)
		}
		e.plog.Close()
		store.Close()
	})
	return e
}

func (e *env) do(t testing.TB, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, b := send(t, req)
	if ct := resp.Header.Get("Content-Type"); path != "/metrics" && ct != "application/json" {
		t.Errorf("%s %s: got Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, b
}

const event = `{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`

func TestPredict(t *testing.T) {
	e := MustServe(t, httpapi.Config{MaxBodyBytes: 512})
	t.Run("ErrUnavailable", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict", "application/json", event)
		if code != 503 || body != `{"error":"no model loaded"}` {
			t.Errorf("got %d %s, want 503 no model loaded", code, body)
		}
	})
	e.pred.Swap(linearModel{ver: "7"})
	t.Run("OK", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict", "application/json", event)
		want := `{"model":"ride_duration_prediction_model","version":"7","prediction":{"ride_duration":` + strconv.FormatFloat(2+1.5*3.66, 'f', -1, 64) + `,"ride_id":256}}`
		if code != 200 || body != want {
			t.Errorf("got %d %s, want 200 %s", code, body, want)
		}
	})
	t.Run("OKFlat", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict", "", `{"ride_id":"a1","PULocationID":1,"DOLocationID":2,"trip_distance":2,"pickup_datetime":"2021-01-01 00:15:56"}`)
		if code != 200 || !strings.Contains(body, `"ride_duration":5,"ride_id":"a1"`) {
			t.Errorf("got %d %s, want 200 with 5 minutes", code, body)
		}
	})
	bad := []struct{ name, in, want string }{
		{"ErrBadJSON", `{"ride_id": 1,`, `{"error":"invalid JSON: unexpected end of input, want object key"}`},
		{"ErrMissingField", `{"ride_id": 1, "ride": {"PULocationID": 130, "DOLocationID": 205}}`, `{"error":"missing","field":"ride.trip_distance"}`},
		{"ErrWrongType", `{"ride_id": 1, "PULocationID": "abc", "DOLocationID": 205, "trip_distance": 1}`, `{"error":"must be a number or a string holding a plain decimal number such as \"12\" or \"3.5\", got string \"abc\"","field":"PULocationID"}`},
		{"ErrZone", `{"ride_id": 1, "PULocationID": 300, "DOLocationID": 205, "trip_distance": 1}`, `{"error":"must be a taxi zone between 1 and 265, got 300","field":"PULocationID"}`},
		{"ErrNaN", `{"ride_id": 1, "PULocationID": 3, "DOLocationID": 205, "trip_distance": NaN}`, `{"error":"must be a finite number, got NaN","field":"trip_distance"}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/v1/predict", "application/json", tc.in)
			if code != 400 || body != tc.want {
				t.Errorf("got %d %s, want 400 %s", code, body, tc.want)
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		big := `{"ride_id": 1, "pad": "` + strings.Repeat("x", 600) + `"}`
		code, body := e.do(t, "POST", "/v1/predict", "application/json", big)
		if code != 413 || body != `{"error":"request body is over the limit of 512 bytes","field":"body"}` {
			t.Errorf("got %d %s, want 413", code, body)
		}
	})
	t.Run("ErrInternal", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict", "application/json", `{"ride_id": 1, "PULocationID": 3, "DOLocationID": 205, "trip_distance": 499.5}`)
		if code != 500 || body != `{"error":"internal error"}` {
			t.Errorf("got %d %s, want 500 internal error", code, body)
		}
		if logs := e.logs.String(); !strings.Contains(logs, "predicted NaN for ride 1") {
			t.Errorf("got logs %q, want the full internal error", logs)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		code, body := e.do(t, "GET", "/v2/nothing", "", "")
		if code != 404 || body != `{"error":"no route GET /v2/nothing"}` {
			t.Errorf("got %d %s, want 404", code, body)
		}
	})
	t.Run("ErrMethod", func(t *testing.T) {
		code, body := e.do(t, "GET", "/v1/predict", "", "")
		if code != 405 || !strings.Contains(body, "use POST") {
			t.Errorf("got %d %s, want 405", code, body)
		}
	})
	t.Run("OKLogged", func(t *testing.T) {
		recs := e.logged(t)
		if len(recs) != 2 {
			t.Fatalf("got %d logged predictions, want 2 (the two answered)", len(recs))
		}
		r := recs[0]
		if recs[0].RideID != "256" {
			r = recs[1]
		}
		if r.RideID != "256" || r.Version != "7" || r.Source != "http" || r.PULocationID != 130 || r.TripDistance != 3.66 ||
			r.Prediction != 2+1.5*3.66 || r.PredictedAt.Before(r.ReceivedAt) || r.Latency < 0 {
			t.Errorf("got %+v, want ride 256 by version 7 from http", r)
		}
	})
	t.Run("OKSeedSimulator", func(t *testing.T) {
		// The seed's simulator: zones as strings, a pickup time without a zone.
		code, body := e.do(t, "POST", "/v1/predict", "", `{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`)
		p, err := serve.ParsePrediction([]byte(body))
		if code != 200 || err != nil || p.RideID != "ride_1796398521264_3190" || p.RideIDNumeric || math.Abs(p.RideDuration-(2+1.5*26.93)) > 1e-9 {
			t.Errorf("got %d %s (%v), want 200 with %v minutes for the string ride_id", code, body, err, 2+1.5*26.93)
		}
	})
}

func TestPredictLogUnavailable(t *testing.T) {
	e := MustServe(t, httpapi.Config{})
	e.pred.Swap(linearModel{ver: "1"})
	if err := e.plog.Close(); err != nil {
		t.Fatal(err)
	}
	code, body := e.do(t, "POST", "/v1/predict", "application/json", event)
	if code != 503 || body != `{"error":"prediction log is closed"}` {
		t.Errorf("got %d %s, want 503: no unlogged answer", code, body)
	}
}

func TestBatch(t *testing.T) {
	e := MustServe(t, httpapi.Config{MaxBatchItems: 5})
	items := []string{
		event,
		`{"ride_id": "x", "PULocationID": 0, "DOLocationID": 205, "trip_distance": 1}`,
		`{"ride_id": "y", "PULocationID": 1, "DOLocationID": 2, "trip_distance": 499.5}`,
		`{"ride_id": "z", "PULocationID": 1, "DOLocationID": 2, "trip_distance": 2}`,
	}
	want := `[{"model":"ride_duration_prediction_model","version":"3","prediction":{"ride_duration":` + strconv.FormatFloat(2+1.5*3.66, 'f', -1, 64) + `,"ride_id":256}},` +
		`{"error":"must be a taxi zone between 1 and 265, got 0","field":"PULocationID","index":1},` +
		`{"error":"internal error","index":2},` +
		`{"model":"ride_duration_prediction_model","version":"3","prediction":{"ride_duration":5,"ride_id":"z"}}]`
	t.Run("ErrUnavailable", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/json", "["+strings.Join(items, ",")+"]")
		if code != 503 {
			t.Errorf("got %d %s, want 503", code, body)
		}
	})
	e.pred.Swap(linearModel{ver: "3"})
	t.Run("OKArray", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/json", "[\n"+strings.Join(items, ",\n")+"\n]")
		if code != 200 || body != want {
			t.Errorf("got %d %s, want 200 %s", code, body, want)
		}
	})
	t.Run("OKNDJSON", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/x-ndjson; charset=utf-8", strings.Join(items, "\n")+"\n")
		if code != 200 || body != want {
			t.Errorf("got %d %s, want 200 %s", code, body, want)
		}
	})
	t.Run("OKNDJSONBadLine", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/x-ndjson", event+"\n{oops\n")
		if code != 200 || !strings.Contains(body, `"index":1}]`) || !strings.Contains(body, "invalid JSON") {
			t.Errorf("got %d %s, want 200 with an error at index 1", code, body)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/json", `[]`)
		if code != 200 || body != `[]` {
			t.Errorf("got %d %s, want 200 []", code, body)
		}
	})
	t.Run("ErrNotArray", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/json", event)
		if code != 400 || !strings.Contains(body, "want a JSON array") {
			t.Errorf("got %d %s, want 400", code, body)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		code, body := e.do(t, "POST", "/v1/predict/batch", "application/json", "["+strings.Repeat(event+",", 5)+event+"]")
		if code != 413 || !strings.Contains(body, "batch of 6 rides is over the limit of 5") {
			t.Errorf("got %d %s, want 413", code, body)
		}
	})
	t.Run("OKLogged", func(t *testing.T) {
		recs := e.logged(t)
		if len(recs) != 5 { // 2 per non-empty batch, 1 from the bad-line batch
			t.Errorf("got %d logged predictions, want 5", len(recs))
		}
	})
}

func TestStatusRoutes(t *testing.T) {
	e := MustServe(t, httpapi.Config{})
	t.Run("OKHealth", func(t *testing.T) {
		code, body := e.do(t, "GET", "/healthz", "", "")
		if code != 200 || !strings.Contains(body, `"status":"ok"`) {
			t.Errorf("got %d %s, want 200 ok", code, body)
		}
	})
	t.Run("ErrNotReady", func(t *testing.T) {
		if code, body := e.do(t, "GET", "/readyz", "", ""); code != 503 {
			t.Errorf("readyz: got %d %s, want 503", code, body)
		}
		if code, body := e.do(t, "GET", "/v1/models/champion", "", ""); code != 503 {
			t.Errorf("champion: got %d %s, want 503", code, body)
		}
	})
	e.pred.Swap(linearModel{ver: "4"})
	t.Run("OKReady", func(t *testing.T) {
		code, body := e.do(t, "GET", "/readyz", "", "")
		if code != 200 || body != `{"model":"ride_duration_prediction_model","status":"ready","version":"4"}` {
			t.Errorf("got %d %s, want 200 ready", code, body)
		}
	})
	t.Run("OKChampion", func(t *testing.T) {
		code, body := e.do(t, "GET", "/v1/models/champion", "", "")
		var c httpapi.Champion
		if err := json.Unmarshal([]byte(body), &c); err != nil || code != 200 {
			t.Fatalf("got %d %s, %v", code, body, err)
		}
		if c.Name != tripcast.DefaultModelName || c.Version != "4" || time.Since(c.LoadedAt) > time.Hour || c.LoadedAt.After(time.Now()) {
			t.Errorf("got %+v, want version 4 loaded just now", c)
		}
	})
	t.Run("OKMetrics", func(t *testing.T) {
		e.do(t, "POST", "/v1/predict", "application/json", event)
		e.do(t, "POST", "/v1/predict", "application/json", `{}`)
		// what a stream consumer updates, exposed here
		e.pred.Metrics().DeadLetters.WithLabelValues(tripcast.SourceNATS, tripcast.EINVALID).Inc()
		e.pred.Metrics().StreamLag.WithLabelValues("ride_events", "serve").Set(42)
		code, body := e.do(t, "GET", "/metrics", "", "")
		if code != 200 {
			t.Fatalf("got %d, want 200", code)
		}
		for _, want := range []string{
			`tripcast_http_requests_total{code="200",route="POST /v1/predict"} 1`,
			`tripcast_http_requests_total{code="400",route="POST /v1/predict"} 1`,
			`tripcast_http_requests_total{code="503",route="GET /readyz"} 1`,
			`tripcast_http_request_duration_seconds_bucket{code="200",route="GET /healthz",le="+Inf"} 1`,
			`tripcast_model_info{name="ride_duration_prediction_model",version="4"} 1`,
			`tripcast_predictions_total{source="http"} 1`,
			`tripcast_events_received_total{source="http"} 2`,
			`tripcast_prediction_failures_total{code="invalid",source="http"} 1`,
			`tripcast_dead_letters_total{reason="invalid",source="nats"} 1`,
			`tripcast_stream_lag_events{consumer="serve",stream="ride_events"} 42`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Run("ErrSlowHeader", func(t *testing.T) {
		e := MustServe(t, httpapi.Config{ReadHeaderTimeout: 50 * time.Millisecond})
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("POST /v1/predict HTTP/1.1\r\nHost: x\r\n")); err != nil { // never finished
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("got %v, want the server to close a connection whose header never ends", err)
		}
	})
}

func TestNew(t *testing.T) {
	t.Run("ErrDuplicateMetrics", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p := serve.New(serve.Options{})
		if _, err := httpapi.New(httpapi.Config{}, p, nil, reg); err != nil {
			t.Fatal(err)
		}
		if _, err := httpapi.New(httpapi.Config{}, p, nil, reg); err == nil {
			t.Error("got nil, want an already-registered error")
		}
	})
	t.Run("ErrListen", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s, err := httpapi.New(httpapi.Config{Listen: ln.Addr().String()}, serve.New(serve.Options{}), nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ListenAndServe(); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %v, want unavailable (address in use)", err)
		}
	})
}

// BenchmarkPredictHandler is the handler path without the network: decode,
// predict, log (buffered), answer, metrics.
func BenchmarkPredictHandler(b *testing.B) {
	e := MustServe(b, httpapi.Config{})
	e.pred.Swap(linearModel{ver: "1"})
	body := []byte(event)
	w := &discardWriter{h: http.Header{}}
	req, _ := http.NewRequest("POST", "/v1/predict", nil)
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.Pattern = ""
		w.code = 0
		e.srv.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("got %d", w.code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/prediction")
}

// BenchmarkPredictLoopback is the whole path over loopback TCP with
// keep-alive connections, from parallel clients.
func BenchmarkPredictLoopback(b *testing.B) {
	e := MustServe(b, httpapi.Config{})
	e.pred.Swap(linearModel{ver: "1"})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(e.url+"/v1/predict", "application/json", strings.NewReader(event))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("got %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }
