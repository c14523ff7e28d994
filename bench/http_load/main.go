// Command http_load is an open-loop load generator for tripcast's HTTP API:
// it sends real TLC rides to POST /v1/predict at a fixed rate over N
// keep-alive connections, for a fixed duration or count, and prints the
// achieved rate and latency percentiles.
//
// Latency is reported twice: "service" from the moment a request was sent,
// and "corrected" from the moment the schedule said it should have been sent
// (so a stalled server cannot hide its queueing: coordinated omission).
//
// Usage:
//
//	go run ./bench/http_load -url http://127.0.0.1:8080 -rate 10000 -duration 10s -conns 32
//
// It can also run the server side itself, in another process, through the
// real httpapi, serve and predlog code, serving a model file (tripcast train
// --output FILE) or, without -model, a fixed linear model (2 + 1.5 ×
// distance) that measures the HTTP stack alone:
//
//	go run ./bench/http_load -serve 127.0.0.1:8080 -model model.json &
//	go run ./bench/http_load -url http://127.0.0.1:8080
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/blob"
	"tripcast/httpapi"
	"tripcast/model"
	"tripcast/predlog"
	"tripcast/serve"
	"tripcast/tlc"
)

func main() {
	var (
		url      = flag.String("url", "http://127.0.0.1:8080", "base URL of the tripcast HTTP API")
		rate     = flag.Float64("rate", 10000, "requests per second to send")
		duration = flag.Duration("duration", 10*time.Second, "how long to send (after warm-up)")
		count    = flag.Int("n", 0, "send this many requests instead of -duration")
		conns    = flag.Int("conns", 32, "concurrent keep-alive connections")
		warmup   = flag.Duration("warmup", time.Second, "send at the rate this long first, not measured")
		data     = flag.String("data", "", "TLC parquet month to draw rides from (default ../shared/data/tlc/green_tripdata_2021-01.parquet from the repository root)")
		serveOn  = flag.String("serve", "", "instead of sending, serve the API on this address with a fixed linear model")
		logDir   = flag.String("log-dir", "", "with -serve: prediction log folder (default a temporary one)")
		modelF   = flag.String("model", "", "with -serve: serve this model file (tripcast train --output) instead of the fixed linear model")
		stdlib   = flag.Bool("stdlib-client", false, "send with net/http's client instead of the lean HTTP/1.1 one")
	)
	flag.Parse()
	if *serveOn != "" {
		if err := runServer(*serveOn, *logDir, *modelF); err != nil {
			fmt.Fprintln(os.Stderr, "http_load:", err)
			os.Exit(1)
		}
		return
	}
	bodies, err := rideBodies(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http_load:", err)
		os.Exit(1)
	}
	if err := run(*url, bodies, *rate, *duration, *count, *conns, *warmup, *stdlib); err != nil {
		fmt.Fprintln(os.Stderr, "http_load:", err)
		os.Exit(1)
	}
}

// repoRoot walks up from the working directory to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s: give -data", dir)
		}
		dir = parent
	}
}

// rideBodies returns ride events (course format) built from a real month.
func rideBodies(path string) ([][]byte, error) {
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, "..", "shared", "data", "tlc", "green_tripdata_2021-01.parquet")
	}
	trips, _, err := tlc.LoadFile(path, tlc.RuleDefault)
	if err != nil {
		return nil, fmt.Errorf("load rides: %w", err)
	}
	n := min(trips.Len(), 20000)
	bodies := make([][]byte, n)
	for i := range n {
		ev := map[string]any{"ride_id": i, "ride": map[string]any{
			"PULocationID": trips.PULocationID[i], "DOLocationID": trips.DOLocationID[i], "trip_distance": trips.TripDistance[i],
			"pickup_datetime": trips.PickupTime(i).Format("2006-01-02 15:04:05"),
		}}
		if bodies[i], err = json.Marshal(ev); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

type token struct {
	at time.Time // when the schedule says to send
	i  int       // request number
}

type result struct {
	service, corrected []time.Duration
	errors, non200     int64
}

func run(base string, bodies [][]byte, rate float64, duration time.Duration, count, conns int, warmup time.Duration, stdlib bool) error {
	if rate <= 0 || conns <= 0 {
		return fmt.Errorf("-rate and -conns must be positive")
	}
	url := base + "/v1/predict"
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var requests [][]byte // raw HTTP/1.1 requests, for the lean client
	if !stdlib {
		host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
		for _, b := range bodies {
			requests = append(requests, fmt.Appendf(nil, "POST /v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", host, len(b), b))
		}
	}

	// One probe, to fail fast (no model, wrong URL).
	resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[0]))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	probe, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s: %s", resp.Status, probe)
	}

	warm := int(rate * warmup.Seconds())
	total := count
	if total <= 0 {
		total = int(rate * duration.Seconds())
	}
	// The schedule: request i is due at t0 + i/rate. A dispatcher wakes
	// every 100µs and hands every request due by then to the idle
	// connections; a request waiting for a busy connection shows it in its
	// corrected latency, as does the dispatcher's lateness. It sleeps with
	// nanosleep(2) on its own thread: the runtime's timers wake sub-
	// millisecond sleeps only at about 1 ms, which would release requests
	// in bursts of ten at 10,000/s.
	tokens := make(chan token, 1<<20)
	results := make([]result, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			var lean *leanConn
			if !stdlib {
				lean = &leanConn{addr: strings.TrimPrefix(base, "http://")}
				defer lean.close()
			}
			for tk := range tokens {
				start := time.Now()
				var status int
				var err error
				if lean != nil {
					status, err = lean.do(requests[tk.i%len(requests)])
				} else {
					var resp *http.Response
					resp, err = client.Post(url, "application/json", bytes.NewReader(bodies[tk.i%len(bodies)]))
					if err == nil {
						status = resp.StatusCode
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				end := time.Now()
				if tk.i < warm {
					continue
				}
				switch {
				case err != nil:
					res.errors++
				case status != http.StatusOK:
					res.non200++
				default:
					res.service = append(res.service, end.Sub(start))
					res.corrected = append(res.corrected, end.Sub(tk.at))
				}
			}
		}()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pause := syscall.NsecToTimespec(100_000)
	t0 := time.Now()
	interval := float64(time.Second) / rate
	due := func(i int) time.Time { return t0.Add(time.Duration(float64(i) * interval)) }
	for i := 0; i < warm+total; {
		now := time.Now()
		for ; i < warm+total && !due(i).After(now); i++ {
			tokens <- token{at: due(i), i: i}
		}
		syscall.Nanosleep(&pause, nil)
	}
	close(tokens)
	wg.Wait()
	measuredStart := due(warm)
	elapsed := time.Since(measuredStart)

	var all result
	for _, r := range results {
		all.service = append(all.service, r.service...)
		all.corrected = append(all.corrected, r.corrected...)
		all.errors += r.errors
		all.non200 += r.non200
	}
	ok := len(all.service)
	fmt.Printf("target   %.0f req/s over %d connections, %d requests (+%d warm-up)\n", rate, conns, total, warm)
	fmt.Printf("achieved %.0f req/s (%d ok, %d errors, %d non-200) in %v\n", float64(ok)/elapsed.Seconds(), ok, all.errors, all.non200, elapsed.Round(time.Millisecond))
	fmt.Printf("latency  %-10s %9s %9s %9s %9s %9s\n", "", "p50", "p90", "p99", "p99.9", "max")
	for _, l := range []struct {
		name string
		d    []time.Duration
	}{{"service", all.service}, {"corrected", all.corrected}} {
		slices.Sort(l.d)
		fmt.Printf("         %-10s %9s %9s %9s %9s %9s\n", l.name, pct(l.d, 50), pct(l.d, 90), pct(l.d, 99), pct(l.d, 99.9), pct(l.d, 100))
	}
	if all.errors+all.non200 > 0 {
		return fmt.Errorf("%d requests failed", all.errors+all.non200)
	}
	return nil
}

// leanConn is a minimal HTTP/1.1 keep-alive client for one connection: it
// writes a prepared request and reads the status line, the headers and a
// Content-Length body. It costs the load generator a fraction of net/http's
// client CPU, leaving the shared cores to the server being measured.
type leanConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func (c *leanConn) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *leanConn) do(req []byte) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	status, err := c.roundTrip(req)
	if err != nil { // reconnect next time
		c.conn.Close()
		c.conn = nil
	}
	return status, err
}

func (c *leanConn) roundTrip(req []byte) (int, error) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("response without Content-Length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

// pct returns the p-th percentile of sorted d (nearest rank).
func pct(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	i := int(float64(len(d))*p/100+0.5) - 1
	i = max(0, min(i, len(d)-1))
	return strconv.FormatFloat(float64(d[i].Nanoseconds())/1000, 'f', 0, 64) + "µs"
}

// benchModel is the fixed model of -serve: 2 + 1.5 × distance minutes. It
// exists to measure the HTTP stack before a trained model exists; point the
// load at `tripcast serve` for the real figure.
type benchModel struct{}

func (benchModel) Predict(r tripcast.Ride) (float64, error) { return 2 + 1.5*r.TripDistance, nil }
func (benchModel) Name() string                             { return tripcast.DefaultModelName }
func (benchModel) Version() string                          { return "bench-linear" }

func runServer(addr, logDir, modelFile string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if logDir == "" {
		dir, err := os.MkdirTemp("", "http_load-predlog-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		logDir = dir
	}
	store, err := blob.NewFile(logDir)
	if err != nil {
		return err
	}
	defer store.Close()
	plog := predlog.New(store, predlog.Options{Logger: logger})
	defer plog.Close()
	reg := prometheus.NewRegistry()
	m, err := serve.NewMetrics(reg)
	if err != nil {
		return err
	}
	pred := serve.New(serve.Options{Logger: logger, Metrics: m})
	if modelFile != "" {
		a, err := model.LoadFile(modelFile)
		if err != nil {
			return err
		}
		a.SetIdentity(tripcast.DefaultModelName, "file")
		pred.Swap(a)
	} else {
		pred.Swap(benchModel{})
	}
	srv, err := httpapi.New(httpapi.Config{Listen: addr, PredictionLog: plog}, pred, logger, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return srv.ListenAndServe()
}
