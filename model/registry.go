package model

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"tripcast"
	"tripcast/tracking"
)

// LoadRegistered loads the version of registered model name that ref names
// (a version number, "latest" or an alias such as champion) through tr: the
// version is resolved, its artifact read from the blob store, its sha256
// checked and the model decoded, with its identity set to name and the
// version number. This is the one way a registered model is loaded.
//
// Errors: ENOTFOUND when the version or its artifact is missing; ECONFLICT
// when the artifact's checksum does not match; EINVALID when it cannot be
// decoded.
func LoadRegistered(ctx context.Context, tr *tracking.Tracker, name, ref string) (*Artifact, error) {
	if name == "" {
		name = tripcast.DefaultModelName
	}
	b, v, err := tr.OpenVersionArtifact(ctx, name, ref)
	if err != nil {
		return nil, fmt.Errorf("load model %s %s: %w", name, ref, err)
	}
	art, err := Read(bytes.NewReader(b))
	if err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: fmt.Sprintf("model %s version %d: artifact cannot be decoded", name, v.Version), Err: err}
	}
	art.SetIdentity(name, strconv.Itoa(v.Version))
	return art, nil
}

// RegistrySource is a tripcast.ModelSource over the model registry: the
// version an alias (champion by default) points at, loaded with
// LoadRegistered. Give it to serve.Predictor's Follow or Refresh; every way
// of serving (HTTP, stream, Lambda) shares it.
type RegistrySource struct {
	Tracker *tracking.Tracker // registry and blob store (tracking.New with blobs)
	Name    string            // registered model name; default tripcast.DefaultModelName
	Alias   string            // alias to follow; default tripcast.ChampionAlias
}

var _ tripcast.ModelSource = (*RegistrySource)(nil)

// NewRegistrySource returns a source following the champion of model name.
func NewRegistrySource(tr *tracking.Tracker, name string) *RegistrySource {
	return &RegistrySource{Tracker: tr, Name: name}
}

func (s *RegistrySource) names() (string, string) {
	name, alias := s.Name, s.Alias
	if name == "" {
		name = tripcast.DefaultModelName
	}
	if alias == "" {
		alias = tripcast.ChampionAlias
	}
	return name, alias
}

// Champion returns the version the alias points at: one registry read.
// ENOTFOUND when the alias is not set.
func (s *RegistrySource) Champion(ctx context.Context) (string, error) {
	name, alias := s.names()
	v, err := s.Tracker.CurrentAlias(ctx, name, alias)
	if err != nil {
		return "", fmt.Errorf("read alias %s of model %s: %w", alias, name, err)
	}
	if v == 0 {
		return "", tripcast.Errorf(tripcast.ENOTFOUND, "model %s has no %s alias yet (train and promote a version)", name, alias)
	}
	return strconv.Itoa(v), nil
}

// Load loads version (a version number) with LoadRegistered.
func (s *RegistrySource) Load(ctx context.Context, version string) (tripcast.Model, error) {
	name, _ := s.names()
	return LoadRegistered(ctx, s.Tracker, name, version)
}
