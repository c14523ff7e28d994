package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"

	"tripcast"
	"tripcast/blob"
	"tripcast/model"
	"tripcast/tracking"
)

// LoadModel loads the model artifact at loc (MODEL_LOCATION): a local file,
// or an S3 object read through the blob store, so that no metadata database
// is needed. The artifact is named name (tripcast.DefaultModelName when
// "") and reports version, or, when version is "", "sha256:" and the first
// 12 hex digits of the file's sha256. Errors name MODEL_LOCATION: ENOTFOUND
// when the file or object is missing, EINVALID when it is not a model.
func LoadModel(ctx context.Context, loc *Location, name, version string) (*model.Artifact, error) {
	if loc == nil {
		return nil, tripcast.FieldError(EnvModelLocation, "is not set")
	}
	b, err := readLocation(ctx, loc)
	if err != nil {
		return nil, err
	}
	art, err := model.Read(bytes.NewReader(b))
	if err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Field: EnvModelLocation,
			Message: fmt.Sprintf("%s is not a tripcast model artifact", loc), Err: err}
	}
	if name == "" {
		name = tripcast.DefaultModelName
	}
	if version == "" {
		sum := sha256.Sum256(b)
		version = "sha256:" + hex.EncodeToString(sum[:6])
	}
	art.SetIdentity(name, version)
	return art, nil
}

// readLocation returns the bytes at loc.
func readLocation(ctx context.Context, loc *Location) ([]byte, error) {
	if loc.Bucket == "" {
		b, err := os.ReadFile(loc.Path)
		if os.IsNotExist(err) {
			return nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Field: EnvModelLocation, Message: fmt.Sprintf("no model file at %s", loc.Path), Err: err}
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvModelLocation, loc.Path, err)
		}
		return b, nil
	}
	store, err := blob.OpenS3(ctx, loc.StoreURL())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", EnvModelLocation, loc, err)
	}
	defer store.Close()
	r, err := store.Open(ctx, loc.Key)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", EnvModelLocation, loc, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", EnvModelLocation, loc, err)
	}
	return b, nil
}

// LoadRunModel loads the newest registered version of model name whose
// training run is runID (RUN_ID), through tr (model.LoadRegistered: the
// artifact's checksum is checked). The artifact reports runID as its
// version, as the course's Lambda does. ENOTFOUND naming RUN_ID when no
// version of name was registered from that run.
func LoadRunModel(ctx context.Context, tr *tracking.Tracker, name, runID string) (*model.Artifact, error) {
	if name == "" {
		name = tripcast.DefaultModelName
	}
	vs, err := tr.Store().ListVersions(ctx, name)
	if err != nil && tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		return nil, fmt.Errorf("list versions of model %s: %w", name, err)
	}
	found := 0
	for _, v := range vs {
		if v.RunID == runID {
			found = v.Version // oldest first: the last match is the newest
		}
	}
	if found == 0 {
		return nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Field: EnvRunID,
			Message: fmt.Sprintf("%q: no version of model %s was registered from that training run; set %s to load a model file", runID, name, EnvModelLocation)}
	}
	art, err := model.LoadRegistered(ctx, tr, name, strconv.Itoa(found))
	if err != nil {
		return nil, err
	}
	art.SetIdentity(name, runID)
	return art, nil
}
