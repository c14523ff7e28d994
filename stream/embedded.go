package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	ns.SetLoggerV2(serverLogger{log: logger.With("component", "nats-server"), fatal: fatal}, false, false, false)
	ns.Start()
	if err := waitReady(ns, fatal, 30*time.Second); err != nil {
		ns.Shutdown()
		unlock()
		return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats server in %s (listen %q): %v", dir, o.Listen, err)
	}
	e := &Embedded{ns: ns, dir: dir, log: logger, lock: lock, user: opts.Username, password: opts.Password}
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
// receives the first fatal error (such as a port it cannot bind).
type serverLogger struct {
	log   *slog.Logger
	fatal chan<- string
}

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
func (l serverLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
