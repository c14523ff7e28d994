package tripcast

import (
	"context"
	"encoding/json"
	"time"
)

// ModelVersion is one registered version of a model: numbered 1, 2, 3… per
// model name, created from a run's artifact.
type ModelVersion struct {
	Name        string             `json:"name"`
	Version     int                `json:"version"`
	RunID       string             `json:"run_id,omitempty"` // "" when not created by a tracked run
	ArtifactURI string             `json:"artifact_uri"`     // full blob URI
	ArtifactKey string             `json:"artifact_key"`     // blob store key
	SHA256      string             `json:"sha256"`           // hex sha256 of the artifact
	Size        int64              `json:"size"`             // artifact bytes
	FeatureSpec json.RawMessage    `json:"feature_spec,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Description string             `json:"description,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	Aliases     []string           `json:"aliases,omitempty"` // aliases pointing at it now, sorted (read only)
}

// AliasMove is one entry of an alias's history: the alias moved from one
// version to another. From is 0 when the alias did not exist before.
type AliasMove struct {
	ID       int64     `json:"id"` // increases with every move of the model's aliases
	Time     time.Time `json:"time"`
	Name     string    `json:"name"` // model name
	Alias    string    `json:"alias"`
	From     int       `json:"from"`
	To       int       `json:"to"`
	Rollback bool      `json:"rollback,omitempty"` // made by Registry.Rollback
	Reason   string    `json:"reason"`
	Actor    string    `json:"actor"`
}

// RollbackTarget returns the version a Rollback of an alias moves it to,
// given that alias's history, oldest first. The history is read as a stack:
// each ordinary move pushes the version it left, each rollback pops one; so
// rolling back twice after promoting v2 then v3 goes 3 → 2 → 1, and never
// back to a version that was rolled back from. ok is false when there is
// nothing to roll back to.
func RollbackTarget(history []AliasMove) (version int, ok bool) {
	var stack []int
	for _, m := range history {
		switch {
		case m.Rollback:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case m.From != 0:
			stack = append(stack, m.From)
		}
	}
	if len(stack) == 0 {
		return 0, false
	}
	return stack[len(stack)-1], true
}

// Registry keeps registered models, their versions and their aliases. The
// operations that must be atomic (numbering versions, moving an alias with
// its history entry) are atomic across processes sharing one database.
type Registry interface {
	// CreateRegisteredModel creates the model name if it does not exist yet
	// (no error when it does). EINVALID when name is empty.
	CreateRegisteredModel(ctx context.Context, name string) error
	// CreateVersion stores v under the next version number of v.Name (1 for
	// the first) and sets v.Version and v.CreatedAt (when zero). ENOTFOUND
	// when the model or v.RunID (if set) does not exist.
	CreateVersion(ctx context.Context, v *ModelVersion) error
	// GetVersion returns one version. ENOTFOUND when it does not exist.
	GetVersion(ctx context.Context, name string, version int) (*ModelVersion, error)
	// ListVersions returns the model's versions, oldest first. ENOTFOUND
	// when the model does not exist.
	ListVersions(ctx context.Context, name string) ([]*ModelVersion, error)
	// SetAlias points alias at version and records the move, in one
	// transaction. ENOTFOUND when the version does not exist, ECONFLICT
	// when the alias already points at it.
	SetAlias(ctx context.Context, name, alias string, version int, reason, actor string) (*AliasMove, error)
	// CompareAndSetAlias is SetAlias that only moves alias when it still
	// points at from (0: when it is not set), checked in the same
	// transaction: ECONFLICT when it points elsewhere (someone moved it
	// since it was read), or already at version.
	CompareAndSetAlias(ctx context.Context, name, alias string, from, version int, reason, actor string) (*AliasMove, error)
	// GetAlias returns the version alias points at. ENOTFOUND when the
	// alias is not set.
	GetAlias(ctx context.Context, name, alias string) (int, error)
	// AliasHistory returns the moves of alias (every alias of the model
	// when alias is ""), oldest first.
	AliasHistory(ctx context.Context, name, alias string) ([]AliasMove, error)
	// Rollback moves alias back to the version RollbackTarget picks from
	// its history and records the move, in one transaction. ENOTFOUND when
	// the alias is not set, ECONFLICT when there is nothing to roll back to.
	Rollback(ctx context.Context, name, alias, reason, actor string) (*AliasMove, error)
}
