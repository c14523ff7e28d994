package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tripcast"
)

// Embedded is a NATS server with JetStream running inside the tripcast
// process, storing streams and consumer state as files under a directory, so
// that both survive a restart (even kill -9: a publish is acknowledged only
// after the message is written to the file).
type Embedded struct {
	ns   *server.Server
	dir  string
	log  *slog.Logger
	lock *os.File // held while the server runs

	user, password string // required of clients when password is set

	// storeErr holds the last store write failure the server reported
	// (disk full): JetStream's stores refuse every write after one, even
	// once space returns, until JetStream is restarted (see Healthy).
	storeErr atomic.Pointer[string]
	jsCfg    server.JetStreamConfig // to restart JetStream with
	mu       sync.Mutex             // serializes recoveries
	stop     chan struct{}
	watching sync.WaitGroup
}

// EmbeddedOptions tune an embedded NATS server. The zero value opens no
// network port.
type EmbeddedOptions struct {
	// Listen is "" to open no network port at all (clients connect
	// in-process, see OpenNATS with NATSOptions.Server) or a "host:port"
	// address to also accept external clients (port 0 picks one).
	Listen string
	// User and Password, when Password is set, are required of every
	// client (the in-process one gives them itself). A Listen address
	// beyond loopback requires them: any client could otherwise delete
	// streams.
	User, Password string
	// Logger receives the server's notices and errors.
	Logger *slog.Logger
	// MaxStore caps the bytes JetStream may store on disk (0: the
	// server's default, most of the disk).
	MaxStore int64
	// RecoverEvery is how often the server checks that JetStream can
	// store, and restarts JetStream once the disk takes writes again
	// after a store failure (see Healthy). Default 5 s; negative: never
	// (Healthy still recovers when called).
	RecoverEvery time.Duration
}

// StartEmbedded starts an embedded server without credentials; see
// StartEmbeddedWith.
func StartEmbedded(dir, listen string, logger *slog.Logger) (*Embedded, error) {
	return StartEmbeddedWith(dir, EmbeddedOptions{Listen: listen, Logger: logger})
}

// IsLoopback reports whether the listen address addr ("host:port") accepts
// only clients on this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StartEmbeddedWith starts a NATS server with JetStream storing its files
// under dir (created if needed). ECONFLICT when another process already runs
// one on dir (an advisory lock file, tripcast-nats.lock, guards the files).
// EINVALID on field nats_password when o.Listen reaches beyond loopback
// without a password. EUNAVAILABLE at once, naming the address, when the
// listen address cannot be bound (a busy port).
func StartEmbeddedWith(dir string, o EmbeddedOptions) (*Embedded, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, tripcast.FieldError("dir", "is empty: the embedded NATS server needs a data directory")
	}
	opts := &server.Options{
		ServerName:        "tripcast",
		JetStream:         true,
		StoreDir:          dir,
		JetStreamMaxStore: o.MaxStore,
		DontListen:        o.Listen == "",
		NoSigs:            true,
		Username:          o.User,
		Password:          o.Password,
	}
	if o.Password == "" {
		opts.Username = ""
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, tripcast.FieldError("listen", "%q is not host:port: %v", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, tripcast.FieldError("listen", "%q has a bad port", o.Listen)
		}
		if o.Password == "" && !IsLoopback(o.Listen) {
			return nil, tripcast.FieldError("nats_password", "the embedded NATS server would accept any client on %s (beyond this machine): set a password", o.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		} else if l, err := net.Listen("tcp", o.Listen); err != nil {
			return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats cannot listen on %s: %v", o.Listen, err)
		} else {
			l.Close()
		}
		opts.Host, opts.Port = host, p
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded nats: create store dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	unlock := func() {
		if lock != nil {
			lock.Close()
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	fatal := make(chan string, 1)
	e := &Embedded{ns: ns, dir: dir, log: logger, lock: lock, user: opts.Username, password: opts.Password, stop: make(chan struct{})}
	ns.SetLoggerV2(serverLogger{log: logger.With("component", "nats-server"), fatal: fatal, storeErr: &e.storeErr}, false, false, false)
	ns.Start()
	if err := waitReady(ns, fatal, 30*time.Second); err != nil {
		ns.Shutdown()
		unlock()
		return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats server in %s (listen %q): %v", dir, o.Listen, err)
	}
	if cfg := ns.JetStreamConfig(); cfg != nil {
		// EnableJetStream appends "jetstream" to StoreDir again: give it
		// the folder the server was started with.
		e.jsCfg = *cfg
		e.jsCfg.StoreDir = dir
	}
	if every := o.RecoverEvery; every >= 0 {
		if every == 0 {
			every = 5 * time.Second
		}
		e.watching.Add(1)
		go e.watch(every)
	}
	if o.Listen != "" && o.Password == "" {
		logger.Warn("embedded nats accepts clients without credentials on a loopback address: any local process may use or delete its streams (set nats_password)", "listen", e.ClientURL())
	}
	logger.Info("embedded nats started", "dir", dir, "listen", e.ClientURL(), "auth", o.Password != "")
	return e, nil
}

// waitReady waits until ns accepts connections, up to limit, and fails at
// once when the server reports a fatal error (a port it cannot bind).
func waitReady(ns *server.Server, fatal <-chan string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		select {
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not start within %v", limit)
		}
	}
}

// ClientURL returns the nats:// URL external clients can use, or "" when the
// server opens no port.
func (e *Embedded) ClientURL() string {
	if e.ns.Addr() == nil {
		return ""
	}
	return e.ns.ClientURL()
}

// Close shuts the server down, flushing its stores, and waits for it.
func (e *Embedded) Close() error {
	close(e.stop)
	e.watching.Wait()
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
	if e.lock != nil {
		e.lock.Close() // releases the flock
	}
	e.log.Info("embedded nats stopped", "dir", e.dir)
	return nil
}

// OpenEmbedded starts an embedded server on dir (see StartEmbedded) and opens
// a Stream on it; the Stream's Close also stops the server.
func OpenEmbedded(ctx context.Context, dir, listen string, opts NATSOptions) (*NATS, error) {
	return OpenEmbeddedWith(ctx, dir, EmbeddedOptions{Listen: listen}, opts)
}

// OpenEmbeddedWith is OpenEmbedded with the server's options (its Logger
// defaults to opts.Logger).
func OpenEmbeddedWith(ctx context.Context, dir string, eo EmbeddedOptions, opts NATSOptions) (*NATS, error) {
	if eo.Logger == nil {
		eo.Logger = opts.Logger
	}
	e, err := StartEmbeddedWith(dir, eo)
	if err != nil {
		return nil, err
	}
	opts.Server = e
	n, err := OpenNATS(ctx, "", opts)
	if err != nil {
		e.Close()
		return nil, err
	}
	n.owned = e
	return n, nil
}

// inProcess returns the connect options that dial e without a socket.
func (e *Embedded) inProcess() []nats.Option {
	o := []nats.Option{nats.InProcessServer(e.ns)}
	if e.password != "" {
		o = append(o, nats.UserInfo(e.user, e.password))
	}
	return o
}

// serverLogger adapts slog to nats-server's Logger interface; fatal
// receives the first fatal error (such as a port it cannot bind), storeErr
// the last store write failure.
type serverLogger struct {
	log      *slog.Logger
	fatal    chan<- string
	storeErr *atomic.Pointer[string]
}

// storeFailures are what the server logs when a store cannot write.
var storeFailures = []string{"Critical write error", "failed to store a msg", "out of resources", "no space left on device"}

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}
func (l serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	for _, f := range storeFailures {
		if strings.Contains(msg, f) {
			l.storeErr.Store(&msg)
			return
		}
	}
}
func (l serverLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }

// Healthy reports whether JetStream can store: nil, or an EUNAVAILABLE
// error saying why not. After a store write failure (a full disk), the
// stores refuse every write even once space returns; Healthy then checks
// that the store folder takes a write again and, if so, restarts JetStream
// (its streams and consumers reload from their files) and reports healthy.
// Readiness checks call it (through NATS.Healthy); the server also runs
// it every EmbeddedOptions.RecoverEvery.
func (e *Embedded) Healthy() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	failed := e.storeErr.Load()
	if failed == nil && e.ns.JetStreamEnabled() {
		return nil
	}
	why := "JetStream is disabled"
	if failed != nil {
		why = "JetStream could not store: " + *failed
	}
	if err := probeWrite(e.dir); err != nil {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats in %s: %s; the store folder still refuses writes: %v", e.dir, why, err)
	}
	cfg := e.jsCfg
	e.log.Warn("embedded nats: restarting JetStream after a store failure, the disk takes writes again", "dir", e.dir, "failure", why)
	if err := e.ns.ShutdownJetStream(); err != nil {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats in %s: %s; stopping JetStream: %v", e.dir, why, err)
	}
	if err := e.ns.EnableJetStream(&cfg); err != nil {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats in %s: %s; restarting JetStream: %v", e.dir, why, err)
	}
	e.storeErr.CompareAndSwap(failed, nil)
	e.log.Info("embedded nats: JetStream restarted", "dir", e.dir)
	return nil
}

// watch runs Healthy every period until Close, so that the server recovers
// when space returns even if nothing asks.
func (e *Embedded) watch(every time.Duration) {
	defer e.watching.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			_ = e.Healthy()
		}
	}
}

// probeWrite writes and syncs 64 KiB in dir and removes it: whether the
// disk takes writes.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".tripcast-space-check-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 64<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
