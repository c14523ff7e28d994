package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"tripcast"
)

// CreateRegisteredModel creates the model if it does not exist yet.
func (db *DB) CreateRegisteredModel(ctx context.Context, name string) error {
	if name == "" {
		return tripcast.FieldError("model_name", "must not be empty")
	}
	_, err := db.plain().exec(ctx, `INSERT INTO registered_models (name, last_version, created_at) VALUES (?, 0, ?)
		ON CONFLICT (name) DO NOTHING`, name, micros(db.now()))
	if err != nil {
		return fmt.Errorf("create registered model %q: %w", name, err)
	}
	return nil
}

// CreateVersion stores v under the model's next version number. The
// number comes from an UPDATE … RETURNING of the model's counter, which
// row-locks the model until commit: concurrent writers, in this process or
// another, get distinct consecutive numbers and none is lost.
func (db *DB) CreateVersion(ctx context.Context, v *tripcast.ModelVersion) error {
	metrics, err := json.Marshal(v.Metrics)
	if err != nil {
		return fmt.Errorf("create version of %q: metrics: %w", v.Name, err)
	}
	if v.Metrics == nil {
		metrics = []byte("{}")
	}
	created := v.CreatedAt
	if created.IsZero() {
		created = db.now()
	}
	created = fromMicros(micros(created))
	var number int
	err = db.inTx(ctx, func(c conn) error {
		err := c.queryRow(ctx, `UPDATE registered_models SET last_version = last_version + 1 WHERE name = ? RETURNING last_version`,
			v.Name).Scan(&number)
		if err != nil {
			return notFound(err, "registered model %q not found", v.Name)
		}
		var run any
		if v.RunID != "" {
			if err := runExists(ctx, c, v.RunID); err != nil {
				return err
			}
			run = v.RunID
		}
		_, err = c.exec(ctx, `INSERT INTO model_versions (name, version, run_id, artifact_uri, artifact_key, sha256, size,
				feature_spec, metrics, description, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.Name, number, run, v.ArtifactURI, v.ArtifactKey, v.SHA256, v.Size,
			string(v.FeatureSpec), string(metrics), v.Description, micros(created))
		return err
	})
	if err != nil {
		return fmt.Errorf("create version of %q: %w", v.Name, err)
	}
	v.Version, v.CreatedAt = number, created
	return nil
}

const versionColumns = `name, version, run_id, artifact_uri, artifact_key, sha256, size, feature_spec, metrics, description, created_at`

func scanVersion(s interface{ Scan(...any) error }) (*tripcast.ModelVersion, error) {
	v := &tripcast.ModelVersion{}
	var run sql.NullString
	var spec, metrics string
	var created int64
	if err := s.Scan(&v.Name, &v.Version, &run, &v.ArtifactURI, &v.ArtifactKey, &v.SHA256, &v.Size,
		&spec, &metrics, &v.Description, &created); err != nil {
		return nil, err
	}
	v.RunID = run.String
	if spec != "" {
		v.FeatureSpec = json.RawMessage(spec)
	}
	if err := json.Unmarshal([]byte(metrics), &v.Metrics); err != nil {
		return nil, fmt.Errorf("version %d metrics: %w", v.Version, err)
	}
	if len(v.Metrics) == 0 {
		v.Metrics = nil
	}
	v.CreatedAt = fromMicros(created)
	return v, nil
}

// aliasesOf returns the model's aliases by version.
func (db *DB) aliasesOf(ctx context.Context, name string) (map[int][]string, error) {
	rows, err := db.plain().query(ctx, `SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias`, name)
	if err != nil {
		return nil, err
	}
	out := map[int][]string{}
	for rows.Next() {
		var alias string
		var v int
		if err := rows.Scan(&alias, &v); err != nil {
			rows.Close()
			return nil, err
		}
		out[v] = append(out[v], alias)
	}
	return out, closeRows(rows)
}

// GetVersion returns one version. ENOTFOUND when it does not exist.
func (db *DB) GetVersion(ctx context.Context, name string, version int) (*tripcast.ModelVersion, error) {
	v, err := scanVersion(db.plain().queryRow(ctx, `SELECT `+versionColumns+` FROM model_versions WHERE name = ? AND version = ?`, name, version))
	if err != nil {
		return nil, fmt.Errorf("get version: %w", notFound(err, "model %q has no version %d", name, version))
	}
	aliases, err := db.aliasesOf(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get version %d of %q: aliases: %w", version, name, err)
	}
	v.Aliases = aliases[v.Version]
	return v, nil
}

// ListVersions returns the model's versions, oldest first. ENOTFOUND when
// the model does not exist.
func (db *DB) ListVersions(ctx context.Context, name string) ([]*tripcast.ModelVersion, error) {
	var last int
	if err := db.plain().queryRow(ctx, `SELECT last_version FROM registered_models WHERE name = ?`, name).Scan(&last); err != nil {
		return nil, fmt.Errorf("list versions: %w", notFound(err, "registered model %q not found", name))
	}
	rows, err := db.plain().query(ctx, `SELECT `+versionColumns+` FROM model_versions WHERE name = ? ORDER BY version`, name)
	if err != nil {
		return nil, fmt.Errorf("list versions of %q: %w", name, err)
	}
	out := []*tripcast.ModelVersion{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list versions of %q: %w", name, err)
		}
		out = append(out, v)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("list versions of %q: %w", name, err)
	}
	aliases, err := db.aliasesOf(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list versions of %q: aliases: %w", name, err)
	}
	for _, v := range out {
		v.Aliases = aliases[v.Version]
	}
	return out, nil
}

// lockModel row-locks the registered model for the rest of the
// transaction (SELECT … FOR UPDATE on PostgreSQL; on SQLite the
// transaction already holds the database's write lock).
func lockModel(ctx context.Context, c conn, name string) error {
	var last int
	err := c.queryRow(ctx, `SELECT last_version FROM registered_models WHERE name = ?`+c.d.forUpdate, name).Scan(&last)
	return notFound(err, "registered model %q not found", name)
}

// currentAlias returns the version alias points at, 0 when it is not set.
func currentAlias(ctx context.Context, c conn, name, alias string) (int, error) {
	var v int
	err := c.queryRow(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// moveAlias records the move in the history and points the alias at m.To.
func (db *DB) moveAlias(ctx context.Context, c conn, m *tripcast.AliasMove) error {
	m.Time = fromMicros(micros(db.now()))
	rollback := 0
	if m.Rollback {
		rollback = 1
	}
	err := c.queryRow(ctx, `INSERT INTO alias_history (name, alias, from_version, to_version, is_rollback, reason, actor, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.Name, m.Alias, m.From, m.To, rollback, m.Reason, m.Actor, micros(m.Time)).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, err = c.exec(ctx, `INSERT INTO model_aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
		m.Name, m.Alias, m.To, micros(m.Time))
	return err
}

// SetAlias points alias at version and records the move, atomically.
// ENOTFOUND when the version does not exist, ECONFLICT when the alias
// already points at it.
func (db *DB) SetAlias(ctx context.Context, name, alias string, version int, reason, actor string) (*tripcast.AliasMove, error) {
	return db.setAlias(ctx, name, alias, -1, version, reason, actor)
}

// CompareAndSetAlias is SetAlias when alias still points at from (0: is
// not set); ECONFLICT otherwise.
func (db *DB) CompareAndSetAlias(ctx context.Context, name, alias string, from, version int, reason, actor string) (*tripcast.AliasMove, error) {
	if from < 0 {
		return nil, tripcast.FieldError("from", "version %d: want 0 (unset) or a version number", from)
	}
	return db.setAlias(ctx, name, alias, from, version, reason, actor)
}

// setAlias moves alias to version in one transaction that holds the
// model's row lock; expect is the version the alias must point at now (0:
// unset), or -1 for any.
func (db *DB) setAlias(ctx context.Context, name, alias string, expect, version int, reason, actor string) (*tripcast.AliasMove, error) {
	if alias == "" {
		return nil, tripcast.FieldError("alias", "must not be empty")
	}
	m := &tripcast.AliasMove{Name: name, Alias: alias, To: version, Reason: reason, Actor: actor}
	err := db.inTx(ctx, func(c conn) error {
		if err := lockModel(ctx, c, name); err != nil {
			return err
		}
		var one int
		if err := c.queryRow(ctx, `SELECT 1 FROM model_versions WHERE name = ? AND version = ?`, name, version).Scan(&one); err != nil {
			return notFound(err, "model %q has no version %d", name, version)
		}
		from, err := currentAlias(ctx, c, name, alias)
		if err != nil {
			return err
		}
		if expect >= 0 && from != expect {
			return tripcast.Errorf(tripcast.ECONFLICT, "alias %q of %q points at version %d, not %d: it was moved meanwhile", alias, name, from, expect)
		}
		if from == version {
			return tripcast.Errorf(tripcast.ECONFLICT, "alias %q of %q already points at version %d", alias, name, version)
		}
		m.From = from
		return db.moveAlias(ctx, c, m)
	})
	if err != nil {
		return nil, fmt.Errorf("set alias %q of %q to %d: %w", alias, name, version, err)
	}
	return m, nil
}

// GetAlias returns the version alias points at. ENOTFOUND when unset.
func (db *DB) GetAlias(ctx context.Context, name, alias string) (int, error) {
	var v int
	err := db.plain().queryRow(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("get alias: %w", notFound(err, "model %q has no alias %q", name, alias))
	}
	return v, nil
}

// AliasHistory returns the moves of alias ("" for all), oldest first.
func (db *DB) AliasHistory(ctx context.Context, name, alias string) ([]tripcast.AliasMove, error) {
	out, err := aliasHistory(ctx, db.plain(), name, alias)
	if err != nil {
		return nil, fmt.Errorf("alias history of %q: %w", name, err)
	}
	return out, nil
}

func aliasHistory(ctx context.Context, c conn, name, alias string) ([]tripcast.AliasMove, error) {
	q := `SELECT id, name, alias, from_version, to_version, is_rollback, reason, actor, at FROM alias_history WHERE name = ?`
	args := []any{name}
	if alias != "" {
		q += ` AND alias = ?`
		args = append(args, alias)
	}
	rows, err := c.query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	out := []tripcast.AliasMove{}
	for rows.Next() {
		var m tripcast.AliasMove
		var rollback int
		var at int64
		if err := rows.Scan(&m.ID, &m.Name, &m.Alias, &m.From, &m.To, &rollback, &m.Reason, &m.Actor, &at); err != nil {
			rows.Close()
			return nil, err
		}
		m.Rollback, m.Time = rollback != 0, fromMicros(at)
		out = append(out, m)
	}
	return out, closeRows(rows)
}

// Rollback moves alias back to the version tripcast.RollbackTarget picks
// from its history, atomically. ENOTFOUND when the alias is not set,
// ECONFLICT when there is nothing to roll back to.
func (db *DB) Rollback(ctx context.Context, name, alias, reason, actor string) (*tripcast.AliasMove, error) {
	m := &tripcast.AliasMove{Name: name, Alias: alias, Rollback: true, Reason: reason, Actor: actor}
	err := db.inTx(ctx, func(c conn) error {
		if err := lockModel(ctx, c, name); err != nil {
			return err
		}
		from, err := currentAlias(ctx, c, name, alias)
		if err != nil {
			return err
		}
		if from == 0 {
			return tripcast.Errorf(tripcast.ENOTFOUND, "model %q has no alias %q", name, alias)
		}
		hist, err := aliasHistory(ctx, c, name, alias)
		if err != nil {
			return err
		}
		to, ok := tripcast.RollbackTarget(hist)
		if !ok || to == from {
			return tripcast.Errorf(tripcast.ECONFLICT, "alias %q of %q has no earlier version to roll back to (it points at version %d)", alias, name, from)
		}
		m.From, m.To = from, to
		return db.moveAlias(ctx, c, m)
	})
	if err != nil {
		return nil, fmt.Errorf("roll back alias %q of %q: %w", alias, name, err)
	}
	return m, nil
}
