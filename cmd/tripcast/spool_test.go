package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/tcpproxy"
	"tripcast/internal/testlog"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

// serveChildEnv carries a child process's tripcast arguments (JSON).
const serveChildEnv = "TRIPCAST_TEST_SERVE_CHILD"

// TestServeChild is not a test: it is the tripcast process TestServeOutage
// starts (this test binary, running the command tree) and kills.
func TestServeChild(t *testing.T) {
	spec := os.Getenv(serveChildEnv)
	if spec == "" {
		t.Skip("run by TestServeOutageKill9 only")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	runChild(t, args, syscall.SIGTERM)
}

// runChild runs the command tree with args in this (child) process until
// one of sigs arrives, failing the test when it fails.
func runChild(t *testing.T, args []string, sigs ...os.Signal) {
	t.Helper()
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// startServeChild runs tripcast with args in a child process.
func startServeChild(t *testing.T, out *testlog.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	spec, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// TestServeOutageKill9 (issue 12.3): with PostgreSQL cut (a TCP proxy
// closing every connection), tripcast serve keeps answering from its
// spool; killed with SIGKILL, restarted with the database back, it ships
// every answered prediction to the SQL log: none answered but unlogged.
func TestServeOutageKill9(t *testing.T) {
	pgURL := sqlstoretest.FreshPostgres(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	u.Host = proxy.Addr()
	viaProxy := u.String()

	dir := t.TempDir()
	seedChampionIn(t, dir, viaProxy)
	addr := freePort(t)
	args := []string{"serve", "--data-dir", dir, "--db", viaProxy, "--listen", addr, "--log-level", "warn",
		"--follow-every", "100ms", "--compact-every", "0"}
	var out testlog.Buffer
	defer func() {
		if t.Failed() {
			t.Logf("tripcast output:\n%s", out.String())
		}
	}()
	child := startServeChild(t, &out, args...)
	waitReady(t, "http://"+addr+"/readyz")

	proxy.Cut()
	const n = 600
	var (
		mu       sync.Mutex
		answered []string
		refused  int
		wg       sync.WaitGroup
	)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 6 {
				id := fmt.Sprintf("outage-%d", i)
				body := fmt.Sprintf(`{"ride_id": %q, "PULocationID": %d, "DOLocationID": 205, "trip_distance": %.2f}`, id, 1+i%200, 0.5+float64(i%40)/4)
				resp, err := http.Post("http://"+addr+"/v1/predict", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case 200:
					answered = append(answered, id)
				case 503:
					refused++
				default:
					t.Errorf("ride %s: got status %d, want 200 or 503", id, resp.StatusCode)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(answered) == 0 {
		t.Fatalf("no prediction answered while the database was cut (%d refused)", refused)
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = child.Wait()
	proxy.Restore()

	child = startServeChild(t, &out, args...)
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, pgURL, nil) // directly, not through the proxy
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() int64 {
		c, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{Source: tripcast.SourceHTTP})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	deadline := time.Now().Add(30 * time.Second)
	for count() < int64(len(answered)) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	lost := 0
	for _, id := range answered {
		if recs, err := db.GetPredictions(ctx, id); err != nil || len(recs) != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d answered predictions are not in the SQL log (%d refused), want 0", lost, len(answered), refused)
	}
	t.Logf("answered %d, refused %d, answered but unlogged %d", len(answered), refused, lost)
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("restarted tripcast serve: %v", err)
	}
}
