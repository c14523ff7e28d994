package stream

import (
	"context"
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
}

// StartEmbedded starts a NATS server with JetStream storing its files under
// dir (created if needed). ECONFLICT when another process already runs one on
// dir (an advisory lock file, tripcast-nats.lock, guards the files). listen is "" to open no network port at all
// (clients connect in-process, see OpenNATS with NATSOptions.Server) or a
// "host:port" address to also accept external clients (port 0 picks one).
func StartEmbedded(dir, listen string, logger *slog.Logger) (*Embedded, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, tripcast.FieldError("dir", "is empty: the embedded NATS server needs a data directory")
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
	opts := &server.Options{
		ServerName: "tripcast",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: listen == "",
		NoSigs:     true,
	}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			unlock()
			return nil, tripcast.FieldError("listen", "%q is not host:port: %v", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			unlock()
			return nil, tripcast.FieldError("listen", "%q has a bad port", listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(serverLogger{logger.With("component", "nats-server")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		unlock()
		return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "embedded nats server in %s did not start within 30 s", dir)
	}
	e := &Embedded{ns: ns, dir: dir, log: logger, lock: lock}
	logger.Info("embedded nats started", "dir", dir, "listen", e.ClientURL())
	return e, nil
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
	e, err := StartEmbedded(dir, listen, opts.Logger)
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

// inProcess returns the connect option that dials e without a socket.
func (e *Embedded) inProcess() nats.Option { return nats.InProcessServer(e.ns) }

// serverLogger adapts slog to nats-server's Logger interface.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
