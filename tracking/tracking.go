// Package tracking is tripcast's experiment tracking and model registry:
// the rules over a tripcast.RunStore + tripcast.Registry (package sqlstore)
// and a tripcast.BlobStore that holds the artifacts.
//
// A training job does:
//
//	tr := tracking.New(db, blobs, logger)
//	run, err := tr.StartRun(ctx, "nyc-taxi", "train", "", tracking.WithFeatureSpec(spec.Version))
//	run.AddDataset(ctx, uri, sha, rows)
//	run.LogParams(ctx, map[string]string{"max_depth": "6"})
//	run.LogMetric(ctx, "valid_rmse", rmse, round) // buffered, written in batches
//	art, err := run.LogArtifact(ctx, "model.json", modelReader)
//	v, err := tr.RegisterVersion(ctx, name, tracking.NewVersion{RunID: run.ID, ArtifactKey: art.Key, SHA256: art.SHA256, …})
//	cur, err := tr.CurrentAlias(ctx, name, "champion") // 0 when unset
//	// … re-score version cur (OpenVersionArtifact) on this run's validation set …
//	tr.PromoteIf(ctx, name, v.Version, "champion", cur, "better RMSE", actor) // ECONFLICT: moved meanwhile, compare again
//	run.End(ctx, tripcast.RunFinished)
//
// and a server loads a model with OpenVersionArtifact, which never returns
// bytes whose sha256 differs from the registered one.
package tracking

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"tripcast"
)

// Store is what a Tracker keeps its records in; *sqlstore.DB is one.
type Store interface {
	tripcast.RunStore
	tripcast.Registry
}

// Tracker starts runs and manages registered models. It is safe for
// concurrent use.
type Tracker struct {
	store Store
	blobs tripcast.BlobStore
	log   *slog.Logger
	now   func() time.Time
	batch int
	every time.Duration
	check func([]byte) error
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithClock sets the clock used for run times and metric timestamps
// (time.Now by default).
func WithClock(now func() time.Time) Option { return func(t *Tracker) { t.now = now } }

// WithBatchSize sets how many metric points a Run buffers before writing
// them in one transaction (DefaultBatchSize by default).
func WithBatchSize(n int) Option {
	return func(t *Tracker) {
		if n > 0 {
			t.batch = n
		}
	}
}

// WithFlushInterval sets how old the oldest buffered metric point may get
// before LogMetric writes the buffer (DefaultFlushInterval by default), so
// a long run's metrics show up while it runs.
func WithFlushInterval(d time.Duration) Option {
	return func(t *Tracker) {
		if d > 0 {
			t.every = d
		}
	}
}

// WithArtifactCheck sets a check an artifact's bytes must pass, after their
// sha256, before an alias may point at their version: typically that they
// decode as a model (tracking does not know the model format; see
// VerifyVersion).
func WithArtifactCheck(check func(artifact []byte) error) Option {
	return func(t *Tracker) { t.check = check }
}

// Metric buffering defaults. One transaction per batch keeps logging fast:
// each commit costs a WAL flush on either engine, so 10,000 points take
// two commits, not 10,000.
const (
	DefaultBatchSize     = 5000
	DefaultFlushInterval = 5 * time.Second
)

// New returns a Tracker over store, keeping artifacts in blobs (which may be
// nil for a tracker that never reads or writes artifacts, such as one that
// only lists runs or moves aliases).
func New(store Store, blobs tripcast.BlobStore, logger *slog.Logger, opts ...Option) *Tracker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{store: store, blobs: blobs, log: logger, now: time.Now, batch: DefaultBatchSize, every: DefaultFlushInterval}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Store returns the tracker's store, for reads (GetRun, ListRuns,
// ListVersions, AliasHistory…).
func (t *Tracker) Store() Store { return t.store }

// RunOption sets something recorded when a run starts.
type RunOption func(*tripcast.Run, map[string]string)

// WithFeatureSpec records the feature-spec version the run uses.
func WithFeatureSpec(version string) RunOption {
	return func(r *tripcast.Run, _ map[string]string) { r.FeatureSpec = version }
}

// WithTags sets tags on the run when it starts.
func WithTags(tags map[string]string) RunOption {
	return func(_ *tripcast.Run, m map[string]string) {
		for k, v := range tags {
			m[k] = v
		}
	}
}

// Run is a started run: log to it, then End it. Its methods are safe for
// concurrent use.
type Run struct {
	ID         string // 32 hex characters
	Experiment string
	t          *Tracker
	mu         sync.Mutex
	buf        []tripcast.Metric
}

// newID returns a random 128-bit run id in hex (as MLflow's).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StartRun creates a RUNNING run named name in experiment (created if
// missing), under parentID when it is not "" (a tuning trial under its
// search), recording tripcast's version and VCS revision as lineage.
// EINVALID when experiment is empty, ENOTFOUND when the parent does not
// exist.
func (t *Tracker) StartRun(ctx context.Context, experiment, name, parentID string, opts ...RunOption) (*Run, error) {
	if experiment == "" {
		return nil, tripcast.FieldError("experiment", "must not be empty")
	}
	if err := t.ensureExperiment(ctx, experiment); err != nil {
		return nil, err
	}
	version, revision := tripcast.Version()
	r := &tripcast.Run{ID: newID(), Experiment: experiment, Name: name, Status: tripcast.RunRunning,
		StartTime: t.now().UTC(), ParentID: parentID, TripcastVersion: version, VCSRevision: revision}
	tags := map[string]string{}
	for _, o := range opts {
		o(r, tags)
	}
	if err := t.store.CreateRun(ctx, r); err != nil {
		return nil, fmt.Errorf("start run %q: %w", name, err)
	}
	if err := t.store.SetTags(ctx, r.ID, tags); err != nil {
		return nil, fmt.Errorf("start run %q: %w", name, err)
	}
	t.log.Info("run started", "run", r.ID, "experiment", experiment, "name", name, "parent", parentID)
	return &Run{ID: r.ID, Experiment: experiment, t: t}, nil
}

// ensureExperiment creates experiment unless it exists; a concurrent
// creation by another process is not an error.
func (t *Tracker) ensureExperiment(ctx context.Context, name string) error {
	_, err := t.store.GetExperimentByName(ctx, name)
	if tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		return err
	}
	_, err = t.store.CreateExperiment(ctx, name)
	if tripcast.ErrorCode(err) == tripcast.ECONFLICT {
		return nil
	}
	return err
}

// StartChild starts a run under r (a tuning trial under its search), in
// r's experiment.
func (r *Run) StartChild(ctx context.Context, name string, opts ...RunOption) (*Run, error) {
	return r.t.StartRun(ctx, r.Experiment, name, r.ID, opts...)
}

// LogParams records parameters; they are write-once (ECONFLICT when a key
// is logged again with another value).
func (r *Run) LogParams(ctx context.Context, params map[string]string) error {
	return r.t.store.LogParams(ctx, r.ID, params)
}

// SetTags sets tags, replacing existing values.
func (r *Run) SetTags(ctx context.Context, tags map[string]string) error {
	return r.t.store.SetTags(ctx, r.ID, tags)
}

// LogMetric buffers one metric point, timestamped now, and writes the
// buffer when it holds the batch size or its oldest point is older than
// the flush interval. Call Flush or End to write the rest.
func (r *Run) LogMetric(ctx context.Context, key string, value float64, step int64) error {
	if key == "" {
		return tripcast.FieldError("metric", "key must not be empty")
	}
	now := r.t.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, tripcast.Metric{Key: key, Value: value, Step: step, Timestamp: now})
	if len(r.buf) < r.t.batch && now.Sub(r.buf[0].Timestamp) < r.t.every {
		return nil
	}
	return r.flushLocked(ctx)
}

// Flush writes the buffered metric points.
func (r *Run) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushLocked(ctx)
}

func (r *Run) flushLocked(ctx context.Context) error {
	if len(r.buf) == 0 {
		return nil
	}
	if err := r.t.store.LogMetrics(ctx, r.ID, r.buf); err != nil {
		return err // keep the buffer: a later Flush retries
	}
	r.buf = r.buf[:0]
	return nil
}

// LogArtifact uploads r's content to the blob store under
// artifacts/<run id>/<name> and records it with its sha256 and size. name
// may hold "/" (e.g. "plots/residuals.svg") but no ".." and no leading "/".
func (r *Run) LogArtifact(ctx context.Context, name string, content io.Reader) (tripcast.Artifact, error) {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." {
		return tripcast.Artifact{}, tripcast.FieldError("artifact", "%q is not a clean relative name such as model.json", name)
	}
	if r.t.blobs == nil {
		return tripcast.Artifact{}, tripcast.Errorf(tripcast.EUNAVAILABLE, "no blob store configured for artifacts")
	}
	key := "artifacts/" + r.ID + "/" + name
	info, err := r.t.blobs.Put(ctx, key, content)
	if err != nil {
		return tripcast.Artifact{}, fmt.Errorf("log artifact %s of run %s: %w", name, r.ID, err)
	}
	a := tripcast.Artifact{Name: name, URI: r.t.blobs.URI(key), Key: key, SHA256: info.SHA256, Size: info.Size}
	if err := r.t.store.LogArtifact(ctx, r.ID, a); err != nil {
		return tripcast.Artifact{}, err
	}
	return a, nil
}

// AddDataset records a dataset the run read (rows 0 when unknown).
func (r *Run) AddDataset(ctx context.Context, uri, sha256 string, rows int64) error {
	return r.t.store.AddDatasetInput(ctx, r.ID, tripcast.DatasetInput{URI: uri, SHA256: sha256, Rows: rows})
}

// End writes the buffered metrics and ends the run with status (FINISHED,
// FAILED or KILLED). The run is ended even when the flush fails; both
// errors are returned.
func (r *Run) End(ctx context.Context, status tripcast.RunStatus) error {
	ferr := r.Flush(ctx)
	if ferr != nil && status == tripcast.RunFinished {
		status = tripcast.RunFailed
	}
	err := r.t.store.EndRun(ctx, r.ID, status, r.t.now().UTC())
	if err == nil {
		r.t.log.Info("run ended", "run", r.ID, "status", status)
	}
	return errors.Join(ferr, err)
}

// EndWith ends the run FINISHED when *errp is nil and FAILED otherwise,
// joining any error of its own into *errp. Use it deferred:
//
//	defer run.EndWith(ctx, &err)
func (r *Run) EndWith(ctx context.Context, errp *error) {
	status := tripcast.RunFinished
	if *errp != nil {
		status = tripcast.RunFailed
	}
	if err := r.End(ctx, status); err != nil {
		*errp = errors.Join(*errp, err)
	}
}

// NewVersion describes a model version to register.
type NewVersion struct {
	RunID       string             // run that produced it ("" for none)
	ArtifactKey string             // blob key of the model file, e.g. Artifact.Key
	SHA256      string             // expected sha256 ("" to take the blob store's)
	FeatureSpec json.RawMessage    // the feature spec the model expects
	Metrics     map[string]float64 // e.g. valid_rmse
	Description string
}

// RegisterVersion registers the artifact at nv.ArtifactKey as the next
// version of model name (creating the model if needed). EINVALID when name
// or the key is empty, ENOTFOUND when the artifact or the run does not
// exist, ECONFLICT when the artifact's sha256 is not nv.SHA256.
func (t *Tracker) RegisterVersion(ctx context.Context, name string, nv NewVersion) (*tripcast.ModelVersion, error) {
	switch {
	case name == "":
		return nil, tripcast.FieldError("model_name", "must not be empty")
	case nv.ArtifactKey == "":
		return nil, tripcast.FieldError("artifact", "key must not be empty")
	case t.blobs == nil:
		return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "no blob store configured for artifacts")
	}
	if len(nv.FeatureSpec) > 0 && !json.Valid(nv.FeatureSpec) {
		return nil, tripcast.FieldError("feature_spec", "is not valid JSON")
	}
	for k, v := range nv.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, tripcast.FieldError("metrics", "%s is %v: a registered version's metrics must be finite", k, v)
		}
	}
	info, err := t.blobs.Stat(ctx, nv.ArtifactKey)
	if err != nil {
		if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
			return nil, tripcast.Errorf(tripcast.ENOTFOUND, "register %s: artifact %s is missing", name, t.blobs.URI(nv.ArtifactKey))
		}
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	sum := strings.ToLower(nv.SHA256)
	if sum == "" {
		sum = info.SHA256
	} else if info.SHA256 != "" && info.SHA256 != sum {
		return nil, tripcast.Errorf(tripcast.ECONFLICT, "register %s: artifact %s checksum did not match: got sha256 %s, want %s",
			name, t.blobs.URI(nv.ArtifactKey), info.SHA256, sum)
	}
	if err := t.store.CreateRegisteredModel(ctx, name); err != nil {
		return nil, err
	}
	v := &tripcast.ModelVersion{Name: name, RunID: nv.RunID, ArtifactURI: t.blobs.URI(nv.ArtifactKey), ArtifactKey: nv.ArtifactKey,
		SHA256: sum, Size: info.Size, FeatureSpec: nv.FeatureSpec, Metrics: nv.Metrics, Description: nv.Description,
		CreatedAt: t.now().UTC()}
	if err := t.store.CreateVersion(ctx, v); err != nil {
		return nil, err
	}
	t.log.Info("model version registered", "model", name, "version", v.Version, "run", nv.RunID, "sha256", sum)
	return v, nil
}

// aliasRE is what an alias looks like: it starts with a letter, so it is
// never mistaken for a version number.
var aliasRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ValidAlias returns an EINVALID error when alias is not a usable alias
// name.
func ValidAlias(alias string) error {
	if !aliasRE.MatchString(alias) || alias == "latest" {
		return tripcast.FieldError("alias", "%q is not an alias: use a letter then letters, digits, _ or - (not \"latest\")", alias)
	}
	return nil
}

// Promote points alias at version of model name and records the move with
// reason and actor, after checking the version's artifact (VerifyVersion):
// an alias never moves to an artifact that is missing, was changed, or
// does not pass the artifact check. EINVALID when the alias is malformed
// or reason or actor empty, ENOTFOUND when the version or its artifact
// does not exist, ECONFLICT when the artifact fails its check or the alias
// already points at the version, EUNAVAILABLE when the tracker has no blob
// store to check the artifact in.
func (t *Tracker) Promote(ctx context.Context, name string, version int, alias, reason, actor string) (*tripcast.AliasMove, error) {
	return t.promote(ctx, name, version, alias, -1, reason, actor)
}

// PromoteIf is Promote when alias still points at from (0: is not set),
// as read before deciding to promote: ECONFLICT when another writer moved
// it meanwhile (decide again against the new version).
func (t *Tracker) PromoteIf(ctx context.Context, name string, version int, alias string, from int, reason, actor string) (*tripcast.AliasMove, error) {
	if from < 0 {
		return nil, tripcast.FieldError("from", "version %d: want 0 (unset) or a version number", from)
	}
	return t.promote(ctx, name, version, alias, from, reason, actor)
}

func (t *Tracker) promote(ctx context.Context, name string, version int, alias string, from int, reason, actor string) (*tripcast.AliasMove, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, tripcast.FieldError("reason", "must not be empty: say why the alias moves")
	}
	if actor == "" {
		return nil, tripcast.FieldError("actor", "must not be empty")
	}
	v, err := t.store.GetVersion(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if err := t.VerifyVersion(ctx, v); err != nil {
		return nil, refuseMove(alias, v, err)
	}
	var m *tripcast.AliasMove
	if from < 0 {
		m, err = t.store.SetAlias(ctx, name, alias, version, reason, actor)
	} else {
		m, err = t.store.CompareAndSetAlias(ctx, name, alias, from, version, reason, actor)
	}
	if err != nil {
		return nil, err
	}
	t.log.Info("alias moved", "model", name, "alias", alias, "from", m.From, "to", m.To, "actor", actor, "reason", reason)
	return m, nil
}

// CurrentAlias returns the version alias points at, 0 when it is not set:
// the from to give PromoteIf.
func (t *Tracker) CurrentAlias(ctx context.Context, name, alias string) (int, error) {
	v, err := t.store.GetAlias(ctx, name, alias)
	if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
		return 0, nil
	}
	return v, err
}

// Rollback moves alias back to the version it pointed at before (see
// tripcast.RollbackTarget) and records the move, after checking that
// version's artifact as Promote does. ENOTFOUND when the alias is not set
// or the artifact is missing, ECONFLICT when there is no earlier version
// or its artifact fails its check.
//
// The target is checked, then the registry moves the alias to the target
// it computes in its own transaction: when another writer moves the alias
// in between, the version reached is checked again and an error says so
// if it fails (the alias has moved by then: promote a good version).
func (t *Tracker) Rollback(ctx context.Context, name, alias, reason, actor string) (*tripcast.AliasMove, error) {
	if err := ValidAlias(alias); err != nil {
		return nil, err
	}
	if actor == "" {
		return nil, tripcast.FieldError("actor", "must not be empty")
	}
	if strings.TrimSpace(reason) == "" {
		reason = "rollback"
	}
	hist, err := t.store.AliasHistory(ctx, name, alias)
	if err != nil {
		return nil, err
	}
	target, ok := tripcast.RollbackTarget(hist)
	if ok {
		if err := t.verifyVersionNumber(ctx, name, alias, target); err != nil {
			return nil, err
		}
	} // else the registry refuses the rollback with the reason
	m, err := t.store.Rollback(ctx, name, alias, reason, actor)
	if err != nil {
		return nil, err
	}
	if m.To != target {
		if err := t.verifyVersionNumber(ctx, name, alias, m.To); err != nil {
			t.log.Error("alias rolled back to an unverified version (moved concurrently)", "model", name, "alias", alias, "to", m.To, "err", err)
			return m, fmt.Errorf("alias %s moved concurrently; the rollback reached version %d: %w", alias, m.To, err)
		}
	}
	t.log.Info("alias rolled back", "model", name, "alias", alias, "from", m.From, "to", m.To, "actor", actor, "reason", reason)
	return m, nil
}

// Resolve returns the version of model name that ref names: a version
// number ("3"), "latest" (the highest version) or an alias ("champion").
// EINVALID when ref is empty, ENOTFOUND when nothing matches.
func (t *Tracker) Resolve(ctx context.Context, name, ref string) (*tripcast.ModelVersion, error) {
	if ref == "" {
		return nil, tripcast.FieldError("model", "must name a version number, \"latest\" or an alias")
	}
	if n, err := strconv.Atoi(ref); err == nil {
		if n <= 0 {
			return nil, tripcast.FieldError("model", "version %d: versions start at 1", n)
		}
		return t.store.GetVersion(ctx, name, n)
	}
	if ref == "latest" {
		vs, err := t.store.ListVersions(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, tripcast.Errorf(tripcast.ENOTFOUND, "model %q has no versions", name)
		}
		return vs[len(vs)-1], nil
	}
	n, err := t.store.GetAlias(ctx, name, ref)
	if err != nil {
		return nil, err
	}
	return t.store.GetVersion(ctx, name, n)
}

// OpenVersionArtifact resolves ref (see Resolve) and returns the version's
// artifact bytes after checking their sha256 against the registered one.
// ENOTFOUND when the version or its artifact is missing, ECONFLICT ("checksum
// did not match") when the artifact was changed or truncated: such bytes are
// never returned.
func (t *Tracker) OpenVersionArtifact(ctx context.Context, name, ref string) ([]byte, *tripcast.ModelVersion, error) {
	v, err := t.Resolve(ctx, name, ref)
	if err != nil {
		return nil, nil, err
	}
	b, err := t.readArtifact(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	return b, v, nil
}

// VerifyVersion checks that v's artifact can be served: it exists, its
// sha256 is the registered one, and it passes the artifact check
// (WithArtifactCheck) when one is set. ENOTFOUND when the artifact is
// missing, ECONFLICT when it fails a check, EUNAVAILABLE when the tracker
// has no blob store.
func (t *Tracker) VerifyVersion(ctx context.Context, v *tripcast.ModelVersion) error {
	b, err := t.readArtifact(ctx, v)
	if err != nil {
		return err
	}
	if t.check != nil {
		if err := t.check(b); err != nil {
			return &tripcast.Error{Code: tripcast.ECONFLICT, Err: err, Message: fmt.Sprintf(
				"model %s version %d: artifact %s cannot be loaded", v.Name, v.Version, v.ArtifactURI)}
		}
	}
	return nil
}

// verifyVersionNumber is VerifyVersion for version of model name, as the
// target of a move of alias.
func (t *Tracker) verifyVersionNumber(ctx context.Context, name, alias string, version int) error {
	v, err := t.store.GetVersion(ctx, name, version)
	if err != nil {
		return err
	}
	if err := t.VerifyVersion(ctx, v); err != nil {
		return refuseMove(alias, v, err)
	}
	return nil
}

// refuseMove wraps why alias may not move to v (the error keeps its code).
func refuseMove(alias string, v *tripcast.ModelVersion, err error) error {
	return fmt.Errorf("refusing to move alias %s to model %s version %d: %w", alias, v.Name, v.Version, err)
}

// readArtifact returns v's artifact bytes after checking their sha256.
func (t *Tracker) readArtifact(ctx context.Context, v *tripcast.ModelVersion) ([]byte, error) {
	name := v.Name
	if t.blobs == nil {
		return nil, tripcast.Errorf(tripcast.EUNAVAILABLE, "no blob store configured for artifacts")
	}
	rc, err := t.blobs.Open(ctx, v.ArtifactKey)
	if err != nil {
		if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
			return nil, tripcast.Errorf(tripcast.ENOTFOUND, "model %s version %d: artifact %s is missing", name, v.Version, v.ArtifactURI)
		}
		return nil, fmt.Errorf("model %s version %d: open artifact: %w", name, v.Version, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if v.Size > 0 {
		buf.Grow(int(v.Size))
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(&buf, h), rc); err != nil {
		return nil, fmt.Errorf("model %s version %d: read artifact %s: %w", name, v.Version, v.ArtifactURI, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != v.SHA256 {
		t.log.Error("artifact checksum mismatch", "model", name, "version", v.Version, "uri", v.ArtifactURI,
			"got_sha256", got, "want_sha256", v.SHA256, "got_size", buf.Len(), "want_size", v.Size)
		return nil, tripcast.Errorf(tripcast.ECONFLICT,
			"model %s version %d: artifact %s checksum did not match (got sha256 %s and %d bytes, want %s and %d bytes): it was modified or truncated and will not be loaded",
			name, v.Version, v.ArtifactURI, got, buf.Len(), v.SHA256, v.Size)
	}
	return buf.Bytes(), nil
}
