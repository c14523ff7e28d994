package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"tripcast"
	"tripcast/blob"
	"tripcast/config"
	"tripcast/sqlstore"
	"tripcast/stream"
)

// This file is the one registry of backends: each setting that names an
// engine by URL (blob, db, stream) has a table from URL scheme to opener
// here, and nowhere else chooses an engine.

// blobBackends opens the object store named by the blob setting, by scheme.
var blobBackends = map[string]func(ctx context.Context, u *url.URL) (tripcast.BlobStore, error){
	// file:///abs/path (file://localhost/abs/path and file:rel/path too).
	"file": func(_ context.Context, u *url.URL) (tripcast.BlobStore, error) {
		dir := u.Path
		if u.Opaque != "" {
			dir = u.Opaque
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, tripcast.FieldError("blob", "%q: host %q is not supported: use file:///absolute/path", u.String(), u.Host)
		}
		if dir == "" {
			return nil, tripcast.FieldError("blob", "%q: missing folder: use file:///absolute/path", u.String())
		}
		return blob.NewFile(filepath.FromSlash(dir))
	},
	// s3://bucket/prefix?endpoint=...&region=...&create=true
	"s3": func(ctx context.Context, u *url.URL) (tripcast.BlobStore, error) {
		return blob.OpenS3(ctx, u.String())
	},
}

// blobStore returns the object store named by the blob setting, opening it
// on first use; it is closed when the command ends.
func (a *app) blobStore(ctx context.Context) (tripcast.BlobStore, error) {
	if a.blob != nil {
		return a.blob, nil
	}
	u, err := url.Parse(a.cfg.Blob)
	if err != nil {
		return nil, tripcast.FieldError("blob", "%q is not a URL: %v", a.cfg.Blob, err)
	}
	open, ok := blobBackends[u.Scheme]
	if !ok {
		return nil, tripcast.FieldError("blob", "unknown scheme %q in %q (known: %s)", u.Scheme, a.cfg.Blob, schemes(blobBackends))
	}
	s, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", a.cfg.Blob, err)
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
var dbBackends = map[string]func(ctx context.Context, dbURL string, log *slog.Logger) (*sqlstore.DB, error){
	"sqlite":     sqlstore.Open,
	"postgres":   sqlstore.Open,
	"postgresql": sqlstore.Open,
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
		return nil, tripcast.FieldError("db", "%q is not a URL: %v", config.Mask(a.cfg.DB), err)
	}
	open, ok := dbBackends[u.Scheme]
	if !ok {
		return nil, tripcast.FieldError("db", "unknown scheme %q in %q (known: %s)", u.Scheme, config.Mask(a.cfg.DB), schemes(dbBackends))
	}
	db, err := open(ctx, a.cfg.DB, a.log)
	if err != nil {
		return nil, fmt.Errorf("open metadata database %s: %w", config.Mask(a.cfg.DB), err)
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
// nats://host:4222[,nats://…] or kinesis://?region=…&endpoint=….
var streamBackends = map[string]func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error){
	"embedded": func(ctx context.Context, a *app, _ string, o streamOptions) (tripcast.Stream, error) {
		return stream.OpenEmbedded(ctx, filepath.Join(a.cfg.DataDir, "nats"), o.natsListen,
			stream.NATSOptions{Logger: a.log, BatchSize: o.batch})
	},
	"nats": func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error) {
		return stream.OpenNATS(ctx, raw, stream.NATSOptions{Logger: a.log, BatchSize: o.batch})
	},
	"kinesis": func(ctx context.Context, a *app, raw string, o streamOptions) (tripcast.Stream, error) {
		if o.publishOnly {
			return stream.OpenKinesis(ctx, raw, noCheckpoints{}, a.log)
		}
		db, err := a.store(ctx) // shard checkpoints
		if err != nil {
			return nil, err
		}
		return stream.OpenKinesis(ctx, raw, db, a.log)
	},
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
	scheme := a.cfg.Stream
	if scheme != "embedded" {
		u, err := url.Parse(a.cfg.Stream)
		if err != nil {
			return nil, tripcast.FieldError("stream", "%q is not a URL: %v", config.Mask(a.cfg.Stream), err)
		}
		scheme = u.Scheme
	}
	open, ok := streamBackends[scheme]
	if !ok {
		return nil, tripcast.FieldError("stream", "unknown scheme %q in %q (known: %s)", scheme, config.Mask(a.cfg.Stream),
			strings.Replace(schemes(streamBackends), "embedded://", "embedded", 1))
	}
	if o.natsListen != "" && scheme != "embedded" {
		return nil, tripcast.FieldError("nats-listen", "only applies to the embedded stream, not %s", config.Mask(a.cfg.Stream))
	}
	s, err := open(ctx, a, a.cfg.Stream, o)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", config.Mask(a.cfg.Stream), err)
	}
	a.onClose(s.Close)
	return s, nil
}
