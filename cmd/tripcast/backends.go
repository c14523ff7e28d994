package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tripcast"
	"tripcast/blob"
	"tripcast/config"
	"tripcast/internal/secret"
	"tripcast/sqlstore"
	"tripcast/stream"
)

// This file is the one registry of backends: each setting that names an
// engine by URL (blob, db, stream) has a table from URL scheme to opener
// here, and nowhere else chooses an engine.

// backend is one engine of a setting: check validates its URL without
// connecting (every command runs it when the configuration loads, so a bad
// URL fails at once and names the setting); open opens it.
type backend[O any] struct {
	check func(u *url.URL, raw string) error
	open  O
}

// blobBackends opens the object store named by the blob setting, by scheme.
var blobBackends = map[string]backend[func(ctx context.Context, u *url.URL) (tripcast.BlobStore, error)]{
	// file:///abs/path (file://localhost/abs/path and file:rel/path too).
	"file": {check: checkFileURL, open: func(_ context.Context, u *url.URL) (tripcast.BlobStore, error) {
		if err := checkFileURL(u, ""); err != nil {
			return nil, err
		}
		dir := fileURLPath(u)
		if err := checkWritable("blob", dir); err != nil {
			return nil, err
		}
		return blob.NewFile(dir)
	}},
	// s3://bucket/prefix?endpoint=...&region=...&create=true
	"s3": {check: func(_ *url.URL, raw string) error { return blob.CheckS3URL(raw) },
		open: func(ctx context.Context, u *url.URL) (tripcast.BlobStore, error) {
			return blob.OpenS3(ctx, u.String())
		}},
}

// fileURLPath is the folder a file:// URL names.
func fileURLPath(u *url.URL) string {
	if u.Opaque != "" {
		return filepath.FromSlash(u.Opaque)
	}
	return filepath.FromSlash(u.Path)
}

// checkFileURL accepts file:///abs/path, file://localhost/abs/path and
// file:rel/path, and refuses every part a folder does not use.
func checkFileURL(u *url.URL, _ string) error {
	switch {
	case u.Host != "" && u.Host != "localhost":
		return tripcast.FieldError("blob", "host %q is not supported: use file:///absolute/path", u.Host)
	case u.User != nil:
		return tripcast.FieldError("blob", "a file URL takes no user info")
	case u.RawQuery != "" || u.ForceQuery:
		return tripcast.FieldError("blob", "a file URL takes no query parameters")
	case u.Fragment != "":
		return tripcast.FieldError("blob", "a file URL takes no #fragment")
	case fileURLPath(u) == "":
		return tripcast.FieldError("blob", "missing folder: use file:///absolute/path")
	}
	return nil
}

// blobStore returns the object store named by the blob setting, opening it
// on first use; it is closed when the command ends.
func (a *app) blobStore(ctx context.Context) (tripcast.BlobStore, error) {
	if a.blob != nil {
		return a.blob, nil
	}
	u, err := url.Parse(a.cfg.Blob)
	if err != nil {
		return nil, a.cfg.Invalid("blob", "not a URL")
	}
	be, ok := blobBackends[u.Scheme]
	if !ok {
		return nil, a.cfg.Invalid("blob", "unknown scheme %q (known: %s)", u.Scheme, schemes(blobBackends))
	}
	s, err := be.open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", config.Mask(a.cfg.Blob), secret.Error(err, a.cfg.Secrets()))
	}
	a.blob = s
	a.onClose(func() error {
		a.blob = nil
		return s.Close()
	})
	return s, nil
}

// schemes lists a registry's URL schemes, sorted, for error messages.
func schemes[F any](m map[string]F) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k+"://")
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// dbBackends opens the metadata database named by the db setting, by
// scheme: sqlite:///abs/path/file.db or postgres://user@host:port/db.
var dbBackends = map[string]backend[func(ctx context.Context, dbURL string, log *slog.Logger) (*sqlstore.DB, error)]{
	"sqlite":     {check: checkSQLiteURL, open: openSQLite},
	"postgres":   {check: checkPostgresURL, open: sqlstore.Open},
	"postgresql": {check: checkPostgresURL, open: sqlstore.Open},
}

// sqlitePath is the file a sqlite:// URL names (sqlite://relative/path.db
// reads the host as the path's first folder, as sqlstore does).
func sqlitePath(u *url.URL) string { return filepath.FromSlash(u.Host + u.Path) }

// checkSQLiteURL refuses every part of a sqlite:// URL sqlstore would
// ignore: user info, query parameters, fragment.
func checkSQLiteURL(u *url.URL, _ string) error {
	switch {
	case u.User != nil:
		return tripcast.FieldError("db", "a sqlite URL takes no user info")
	case u.RawQuery != "" || u.ForceQuery:
		return tripcast.FieldError("db", "a sqlite URL takes no query parameters (got %s)", strings.Join(slices.Sorted(maps.Keys(u.Query())), ", "))
	case u.Fragment != "":
		return tripcast.FieldError("db", "a sqlite URL takes no #fragment")
	case u.Opaque != "" || sqlitePath(u) == "":
		return tripcast.FieldError("db", "names no file: use sqlite:///abs/path/file.db")
	}
	return nil
}

// checkPostgresURL checks a postgres:// URL: a host, no fragment; query
// parameters are PostgreSQL connection parameters (sslmode=...), which the
// driver checks.
func checkPostgresURL(u *url.URL, _ string) error {
	switch {
	case u.Opaque != "":
		return tripcast.FieldError("db", "write postgres://user:password@host:5432/db")
	case u.Fragment != "":
		return tripcast.FieldError("db", "a postgres URL takes no #fragment")
	}
	return nil
}

// openSQLite opens a SQLite database after checking that its folder can be
// written, so that a read-only data dir is named with the reason instead
// of SQLite's "unable to open database file (14)".
func openSQLite(ctx context.Context, dbURL string, log *slog.Logger) (*sqlstore.DB, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, tripcast.FieldError("db", "not a URL")
	}
	if err := checkWritable("db", filepath.Dir(sqlitePath(u))); err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, dbURL, log)
}

// checkWritable creates dir if needed and checks that a file can be
// created in it; the error names setting, the folder and the reason (such
// as permission denied or read-only file system).
func checkWritable(setting, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tripcast.FieldError(setting, "cannot create folder %s: %v", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".tripcast-write-check-*")
	if err != nil {
		return tripcast.FieldError(setting, "folder %s is not writable: %v", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// store returns the metadata database named by the db setting (runs,
// registry, checkpoints), opening it and applying its migrations on first
// use; it is closed when the command ends.
func (a *app) store(ctx context.Context) (*sqlstore.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	u, err := url.Parse(a.cfg.DB)
	if err != nil {
		return nil, a.cfg.Invalid("db", "not a URL")
	}
	be, ok := dbBackends[u.Scheme]
	if !ok {
		return nil, a.cfg.Invalid("db", "unknown scheme %q (known: %s)", u.Scheme, schemes(dbBackends))
	}
	// Drivers may quote the URL or DSN in their errors: scrubbed.
	db, err := be.open(ctx, a.cfg.DB, a.log)
	if err != nil {
		return nil, fmt.Errorf("open metadata database %s: %w", config.Mask(a.cfg.DB), secret.Error(err, a.cfg.Secrets()))
	}
	a.db = db
	a.onClose(func() error {
		a.db = nil
		return db.Close()
	})
	return db, nil
}

// streamOptions tune how openStream opens the stream setting.
type streamOptions struct {
	// natsListen, for the embedded server, is an address on which it also
	// accepts external clients ("" opens no port).
	natsListen string
	// batch is the largest batch a NATS consumer handles (0: default).
	batch int
	// publishOnly opens Kinesis without the metadata database (its
	// checkpoint store): it can publish, not consume.
	publishOnly bool
}

// streamBackends opens the ride event stream named by the stream setting:
// "embedded" (NATS JetStream inside the process, stored in <data_dir>/nats),
// nats://[user:password@]host:4222[,nats://…] or
// kinesis://?region=…&endpoint=….
var streamBackends = map[string]backend[func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error)]{
	"embedded": {check: func(_ *url.URL, raw string) error {
		if raw != "embedded" {
			return tripcast.FieldError("stream", "the embedded stream takes no URL parts: write embedded")
		}
		return nil
	}, open: openEmbedded},
	"nats": {check: func(_ *url.URL, raw string) error { return stream.CheckNATSURL(raw) },
		open: func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error) {
			return stream.OpenNATS(ctx, raw, stream.NATSOptions{Logger: a.log, BatchSize: o.batch})
		}},
	"kinesis": {check: func(_ *url.URL, raw string) error { return stream.CheckKinesisURL(raw) },
		open: func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error) {
			if o.publishOnly {
				return stream.OpenKinesis(ctx, raw, noCheckpoints{}, a.log)
			}
			db, err := a.store(ctx) // shard checkpoints
			if err != nil {
				return nil, err
			}
			return stream.OpenKinesis(ctx, raw, db, a.log)
		}},
}

// openEmbedded starts the embedded NATS server under <data_dir>/nats. A
// --nats-listen address beyond loopback requires credentials: without a
// nats_password one is generated and printed once (masked everywhere
// else); on loopback without one a warning is logged.
func openEmbedded(ctx context.Context, a *app, _ string, o streamOptions) (tripcast.Stream, error) {
	dir := filepath.Join(a.cfg.DataDir, "nats")
	if err := checkWritable("data_dir", dir); err != nil {
		return nil, err
	}
	if o.natsListen != "" {
		if err := config.CheckAddr(o.natsListen); err != nil {
			return nil, tripcast.FieldError("nats-listen", "%q: %v", o.natsListen, err)
		}
		if a.cfg.NATSPassword == "" && !stream.IsLoopback(o.natsListen) {
			b := make([]byte, 18)
			if _, err := rand.Read(b); err != nil {
				return nil, fmt.Errorf("generate a NATS password: %w", err)
			}
			a.cfg.NATSPassword = base64.RawURLEncoding.EncodeToString(b)
			a.updateSecrets()
			fmt.Fprintf(a.errOut, "tripcast: the embedded NATS server on %s requires user %q with the generated password %s (shown once; set nats_password or TRIPCAST_NATS_PASSWORD to choose one)\n",
				o.natsListen, a.cfg.NATSUser, a.cfg.NATSPassword)
		}
	}
	return stream.OpenEmbeddedWith(ctx, dir,
		stream.EmbeddedOptions{Listen: o.natsListen, User: a.cfg.NATSUser, Password: a.cfg.NATSPassword},
		stream.NATSOptions{Logger: a.log, BatchSize: o.batch})
}

// schemeOf is the scheme of a backend setting: "embedded", or the
// scheme of its (first) URL.
func schemeOf(raw string) string {
	if raw == "embedded" {
		return raw
	}
	scheme, _, _ := strings.Cut(raw, ":")
	return scheme
}

// checkBackends checks the URL of every backend setting with its engine's
// check, without connecting: every command runs it when the configuration
// loads. Errors name the setting, its masked value and its source.
func (a *app) checkBackends() error {
	for _, c := range []struct {
		key    string
		scheme string
		check  func(*url.URL, string) error
		known  string
	}{
		{"blob", schemeOf(a.cfg.Blob), lookupCheck(blobBackends, schemeOf(a.cfg.Blob)), schemes(blobBackends)},
		{"db", schemeOf(a.cfg.DB), lookupCheck(dbBackends, schemeOf(a.cfg.DB)), schemes(dbBackends)},
		{"stream", schemeOf(a.cfg.Stream), lookupCheck(streamBackends, schemeOf(a.cfg.Stream)),
			strings.Replace(schemes(streamBackends), "embedded://", "embedded", 1)},
	} {
		if c.check == nil {
			return a.cfg.Invalid(c.key, "unknown scheme %q (known: %s)", c.scheme, c.known)
		}
		raw := a.cfg.Get(c.key)
		u, _ := url.Parse(raw) // nil for several NATS URLs: their check parses each
		if u == nil {
			u = &url.URL{Scheme: c.scheme}
		}
		if err := c.check(u, raw); err != nil {
			var e *tripcast.Error
			if errors.As(err, &e) && e.Field == c.key {
				return a.cfg.Invalid(c.key, "%s", e.Message)
			}
			return a.cfg.Invalid(c.key, "%v", err)
		}
	}
	return nil
}

// lookupCheck returns the check of scheme's backend, nil when unknown.
func lookupCheck[O any](m map[string]backend[O], scheme string) func(*url.URL, string) error {
	if b, ok := m[scheme]; ok {
		return b.check
	}
	return nil
}

// stream opens the ride event stream named by the stream setting; it is
// closed when the command ends. Each call opens a new one: call it once per
// command (an embedded server's files can be opened by one server at a
// time).
func (a *app) stream(ctx context.Context) (tripcast.Stream, error) {
	return a.openStream(ctx, streamOptions{})
}

// openStream is stream with options.
func (a *app) openStream(ctx context.Context, o streamOptions) (tripcast.Stream, error) {
	scheme := schemeOf(a.cfg.Stream)
	be, ok := streamBackends[scheme]
	if !ok {
		return nil, a.cfg.Invalid("stream", "unknown scheme %q (known: %s)", scheme,
			strings.Replace(schemes(streamBackends), "embedded://", "embedded", 1))
	}
	if o.natsListen != "" && scheme != "embedded" {
		return nil, tripcast.FieldError("nats-listen", "only applies to the embedded stream, not %s", config.Mask(a.cfg.Stream))
	}
	s, err := be.open(ctx, a, a.cfg.Stream, o)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", config.Mask(a.cfg.Stream), secret.Error(err, a.cfg.Secrets()))
	}
	a.onClose(s.Close)
	return s, nil
}
