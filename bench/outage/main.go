// Command outage checks that no answered prediction is lost when the
// metadata database and the stream server go away and the process is
// killed meanwhile (issue 12.3). It builds tripcast, runs `tripcast serve`
// (HTTP) and `tripcast consume` (NATS) as separate OS processes whose
// PostgreSQL and NATS connections go through TCP proxies it can cut, and:
//
//  1. sends HTTP predictions (-workers at a time) and publishes ride events
//     to NATS (directly: the producer is not cut) for -before;
//  2. cuts both proxies (every connection closed, new ones refused) for
//     -outage, load going on;
//  3. kills both processes with SIGKILL, restores the proxies, restarts
//     them, and keeps the load on for -after;
//  4. stops the load, lets the processes ship and drain, stops them with
//     SIGTERM, and counts: HTTP predictions answered 200 and those in the
//     SQL log; events published and those in the SQL log.
//
// Usage (from the repository root; PostgreSQL and NATS JetStream running):
//
//	go run ./bench/outage
//	go run ./bench/outage -outage 10s -workers 16
//
// It prints the counts and exits non-zero when an answered prediction or a
// published event is not in the log.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"tripcast"
	"tripcast/blob"
	"tripcast/internal/tcpproxy"
	"tripcast/sqlstore"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/tracking"
	"tripcast/train"
)

type options struct {
	pg, nats, tlcFile      string
	before, outage, after  time.Duration
	workers, eventsPerTick int
}

func main() {
	var o options
	flag.StringVar(&o.pg, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL (a fresh schema is created and dropped)")
	flag.StringVar(&o.nats, "nats", "127.0.0.1:4222", "NATS JetStream server host:port")
	flag.StringVar(&o.tlcFile, "tlc", "../shared/data/tlc/green_tripdata_2021-01.parquet", "TLC month to train the model on")
	flag.DurationVar(&o.before, "before", 3*time.Second, "load before the outage")
	flag.DurationVar(&o.outage, "outage", 5*time.Second, "how long the database and the stream server are cut before the kill")
	flag.DurationVar(&o.after, "after", 3*time.Second, "load after the restart")
	flag.IntVar(&o.workers, "workers", 8, "concurrent HTTP clients")
	flag.IntVar(&o.eventsPerTick, "events", 50, "ride events published every 10 ms")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "outage:", err)
		os.Exit(1)
	}
}

// proc is a tripcast child process.
type proc struct {
	bin  string
	args []string
	out  *os.File
	cmd  *exec.Cmd
}

func (p *proc) start() error {
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	return p.cmd.Start()
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill() // SIGKILL
	_ = p.cmd.Wait()
}

func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.cmd.Wait()
}

func run(o options) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "outage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tripcast")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/tripcast").CombinedOutput(); err != nil {
		return fmt.Errorf("build tripcast: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "tripcast.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	pgDirect, dropSchema, err := freshSchema(ctx, o.pg)
	if err != nil {
		return err
	}
	defer dropSchema()
	u, err := url.Parse(pgDirect)
	if err != nil {
		return err
	}
	pgProxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		return err
	}
	defer pgProxy.Close()
	u.Host = pgProxy.Addr()
	pgViaProxy := u.String()
	natsProxy, err := tcpproxy.Start(o.nats)
	if err != nil {
		return err
	}
	defer natsProxy.Close()

	db, err := sqlstore.Open(ctx, pgDirect, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seedChampion(ctx, db, filepath.Join(dir, "blobs"), o.tlcFile); err != nil {
		return err
	}
	ns, err := stream.OpenNATS(ctx, "nats://"+o.nats, stream.NATSOptions{})
	if err != nil {
		return err
	}
	defer ns.Close()
	prefix := "outage_" + randomHex()
	in, out, dlq := prefix+"_events", prefix+"_predictions", prefix+"_dlq"
	for _, name := range []string{in, out, dlq} {
		if err := ns.EnsureStream(ctx, name); err != nil {
			return err
		}
		defer func() { _ = ns.DeleteStream(context.Background(), name) }()
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	common := []string{"--data-dir", dir, "--db", pgViaProxy, "--log-level", "error", "--compact-every", "0"}
	server := &proc{bin: bin, out: logFile, args: append([]string{"serve", "--listen", addr}, common...)}
	consumer := &proc{bin: bin, out: logFile, args: append([]string{"consume", "--stream", "nats://" + natsProxy.Addr(),
		"--input", in, "--output", out, "--dead-letter", dlq, "--consumer", "outage"}, common...)}
	for _, p := range []*proc{server, consumer} {
		if err := p.start(); err != nil {
			return err
		}
	}
	if err := waitReady("http://"+addr+"/readyz", 60*time.Second); err != nil {
		return err
	}

	l := &load{addr: addr, ns: ns, input: in, workers: o.workers, perTick: o.eventsPerTick}
	l.start()
	phase := func(name string, d time.Duration) {
		time.Sleep(d)
		fmt.Printf("after %-24s %5.1fs: answered %d, refused %d, published %d so far\n", name, d.Seconds(), l.answeredN(), l.refused.Load(), l.publishedN())
	}
	phase("load", o.before)
	pgProxy.Cut()
	natsProxy.Cut()
	phase("database and stream cut", o.outage)
	server.kill()
	consumer.kill()
	fmt.Println("killed both processes with SIGKILL; database and stream back; restarting")
	pgProxy.Restore()
	natsProxy.Restore()
	for _, p := range []*proc{server, consumer} {
		if err := p.start(); err != nil {
			return err
		}
	}
	phase("load after the restart", o.after)
	if err := l.stop(); err != nil {
		return err
	}

	// Let the consumer drain, then stop both (serve ships its spool on
	// SIGTERM, and the restarted process shipped the killed one's at start).
	published := l.publishedIDs()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{Source: tripcast.SourceNATS})
		if err != nil {
			return err
		}
		if n >= int64(len(published)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []*proc{server, consumer} {
		if err := p.stop(); err != nil {
			fmt.Printf("stopping %s: %v\n", p.args[0], err)
		}
	}

	logged, err := loggedRides(ctx, db)
	if err != nil {
		return err
	}
	answered := l.answeredIDs()
	httpLost, streamLost := 0, 0
	for _, id := range answered {
		if !logged[tripcast.SourceHTTP][id] {
			httpLost++
		}
	}
	for _, id := range published {
		if !logged[tripcast.SourceNATS][id] {
			streamLost++
		}
	}
	fmt.Printf("HTTP:   answered %d, refused %d (503), failed %d (no answer: process down), logged %d, answered but unlogged %d\n",
		len(answered), l.refused.Load(), l.failed.Load(), len(answered)-httpLost, httpLost)
	fmt.Printf("stream: published %d, logged %d, lost %d\n", len(published), len(published)-streamLost, streamLost)
	if httpLost > 0 || streamLost > 0 {
		return fmt.Errorf("%d answered and %d published predictions are not in the log (tripcast output: %s)", httpLost, streamLost, logFile.Name())
	}
	return nil
}

// load is the HTTP clients and the event publisher.
type load struct {
	addr          string
	ns            *stream.NATS
	input         string
	workers       int
	perTick       int
	refused       atomic.Int64
	failed        atomic.Int64
	seq           atomic.Int64
	mu            sync.Mutex
	answered, pub []string
	quit          chan struct{}
	wg            sync.WaitGroup
	pubErr        error
}

func (l *load) start() {
	l.quit = make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	for range l.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				i := l.seq.Add(1)
				id := fmt.Sprintf("h-%d", i)
				body := fmt.Sprintf(`{"ride_id": %q, "PULocationID": %d, "DOLocationID": %d, "trip_distance": %.2f}`,
					id, 1+i%263, 1+(i*7)%263, 0.3+float64(i%60)/5)
				resp, err := client.Post("http://"+l.addr+"/v1/predict", "application/json", strings.NewReader(body))
				if err != nil {
					l.failed.Add(1)
					time.Sleep(20 * time.Millisecond) // the process is down
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					l.mu.Lock()
					l.answered = append(l.answered, id)
					l.mu.Unlock()
				case http.StatusServiceUnavailable:
					l.refused.Add(1)
				default:
					l.failed.Add(1)
				}
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-l.quit:
				return
			case <-t.C:
			}
			msgs := make([]tripcast.Message, l.perTick)
			ids := make([]string, l.perTick)
			for j := range msgs {
				ids[j] = fmt.Sprintf("s-%d", n)
				msgs[j] = tripcast.Message{Key: ids[j], Data: fmt.Appendf(nil,
					`{"ride_id": %q, "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %.2f}}`,
					ids[j], 1+n%263, 1+(n*11)%263, 0.3+float64(n%50)/4)}
				n++
			}
			if err := l.ns.PublishBatch(context.Background(), l.input, msgs); err != nil {
				l.pubErr = err
				return
			}
			l.mu.Lock()
			l.pub = append(l.pub, ids...)
			l.mu.Unlock()
		}
	}()
}

func (l *load) stop() error {
	close(l.quit)
	l.wg.Wait()
	if l.pubErr != nil {
		return fmt.Errorf("publish ride events: %w", l.pubErr)
	}
	return nil
}

func (l *load) answeredN() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.answered) }

func (l *load) publishedN() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.pub) }

func (l *load) answeredIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.answered...)
}

func (l *load) publishedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.pub...)
}

// loggedRides returns the ride_ids of the SQL log by source.
func loggedRides(ctx context.Context, db *sqlstore.DB) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{tripcast.SourceHTTP: {}, tripcast.SourceNATS: {}}
	var after int64
	for {
		ps, err := db.ReadPredictionsAfter(ctx, after, 10000)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return out, nil
		}
		for _, p := range ps {
			if out[p.Source] == nil {
				out[p.Source] = map[string]bool{}
			}
			out[p.Source][p.RideID] = true
			after = p.ID
		}
	}
}

// freshSchema creates a schema on the PostgreSQL at base and returns a URL
// selecting it and a function dropping it.
func freshSchema(ctx context.Context, base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	schema := "outage_" + randomHex()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL at %s: %w", base, err)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}, nil
}

// seedChampion trains a small gbdt on tlcFile and makes it version 1 and
// champion of the default model.
func seedChampion(ctx context.Context, db *sqlstore.DB, blobDir, tlcFile string) error {
	trips, _, err := tlc.LoadFile(tlcFile, tlc.RuleCourse)
	if err != nil {
		return err
	}
	res, err := train.Fit(ctx, trips, nil, train.Options{Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := res.Artifact.WriteTo(&buf); err != nil {
		return err
	}
	blobs, err := blob.NewFile(blobDir)
	if err != nil {
		return err
	}
	defer blobs.Close()
	info, err := blobs.Put(ctx, "models/outage/model.json", &buf)
	if err != nil {
		return err
	}
	tr := tracking.New(db, blobs, slog.New(slog.DiscardHandler))
	v, err := tr.RegisterVersion(ctx, tripcast.DefaultModelName, tracking.NewVersion{ArtifactKey: info.Key})
	if err != nil {
		return err
	}
	_, err = tr.Promote(ctx, tripcast.DefaultModelName, v.Version, tripcast.ChampionAlias, "bench/outage", "bench")
	return err
}

func waitReady(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New(url + " not ready")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
