package tracking_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tracking"
)

// TestAliasMoveVerifiesArtifact tampers with, removes and registers
// undecodable artifacts: Promote, PromoteIf and Rollback refuse to move
// the alias to them, with the reason, and the alias stays where it was.
func TestAliasMoveVerifiesArtifact(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		ctx := context.Background()
		dir := t.TempDir()
		blobs, err := blob.NewFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer blobs.Close()
		decodes := func(b []byte) error {
			if !json.Valid(b) {
				return errors.New("not a JSON model")
			}
			return nil
		}
		tr := tracking.New(sqlstoretest.MustOpen(t, e.Fresh(t)), blobs, slog.New(slog.DiscardHandler), tracking.WithArtifactCheck(decodes))
		model1 := fixture(t)
		v1 := register(t, tr, model1, 6.5)
		register(t, tr, append(model1, ' '), 6.1)
		v3 := register(t, tr, []byte("{not json"), 6.0)
		for _, v := range []int{1, 2} {
			if _, err := tr.Promote(ctx, model, v, "champion", "good", "alice"); err != nil {
				t.Fatal(err)
			}
		}
		stays := func(t *testing.T) {
			t.Helper()
			if cur, err := tr.CurrentAlias(ctx, model, "champion"); err != nil || cur != 2 {
				t.Errorf("got champion %d (%v), want it still at 2", cur, err)
			}
		}
		path := filepath.Join(dir, filepath.FromSlash(v1.ArtifactKey))
		if err := os.WriteFile(path, append([]byte(nil), strings.Replace(string(model1), "tree", "TREE", 1)...), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrTamperedRollback", func(t *testing.T) {
			_, err := tr.Rollback(ctx, model, "champion", "latency", "bob")
			mustCode(t, err, tripcast.ECONFLICT)
			if !strings.Contains(err.Error(), "refusing to move alias champion to model "+model+" version 1") || !strings.Contains(err.Error(), "checksum did not match") {
				t.Errorf("got %q, want the refusal and the checksum mismatch", err)
			}
			stays(t)
		})
		t.Run("ErrTamperedPromote", func(t *testing.T) {
			_, err := tr.Promote(ctx, model, 1, "champion", "back", "bob")
			mustCode(t, err, tripcast.ECONFLICT)
			_, err = tr.PromoteIf(ctx, model, 1, "champion", 2, "back", "bob")
			mustCode(t, err, tripcast.ECONFLICT)
			stays(t)
		})
		t.Run("ErrMissing", func(t *testing.T) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			_, err := tr.Promote(ctx, model, 1, "champion", "back", "bob")
			mustCode(t, err, tripcast.ENOTFOUND)
			if !strings.Contains(err.Error(), "is missing") {
				t.Errorf("got %q, want it to say the artifact is missing", err)
			}
			stays(t)
		})
		t.Run("ErrUndecodable", func(t *testing.T) {
			_, err := tr.Promote(ctx, model, v3.Version, "champion", "newer", "bob")
			mustCode(t, err, tripcast.ECONFLICT)
			if !strings.Contains(err.Error(), "cannot be loaded: not a JSON model") {
				t.Errorf("got %q, want it to say the artifact cannot be loaded", err)
			}
			stays(t)
		})
		t.Run("ErrNoBlobStore", func(t *testing.T) {
			_, err := tracking.New(tr.Store(), nil, nil).Promote(ctx, model, 2, "staging", "r", "bob")
			mustCode(t, err, tripcast.EUNAVAILABLE)
		})
		t.Run("OKHistory", func(t *testing.T) {
			hist, err := tr.Store().AliasHistory(ctx, model, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 {
				t.Errorf("got %d alias moves, want the 2 good ones only: %+v", len(hist), hist)
			}
		})
	})
}
