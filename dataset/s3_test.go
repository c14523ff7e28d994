package dataset_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob"
	"tripcast/dataset"
	"tripcast/internal/testenv"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// MustOpenS3 opens a store on the test S3 server (TRIPCAST_TEST_S3_ENDPOINT,
// default http://127.0.0.1:7070, started by .ci/s3.sh) under a fresh prefix
// of the bucket tripcast-test-dataset, and deletes what the test wrote when
// it ends. It skips when the server does not answer, unless CI=true.
func MustOpenS3(t *testing.T) *blob.S3 {
	t.Helper()
	endpoint := testenv.S3Endpoint(t)
	b := make([]byte, 6)
	rand.Read(b)
	raw := "s3://tripcast-test-dataset/" + hex.EncodeToString(b) + "/?create=true&region=us-east-1&endpoint=" + url.QueryEscape(endpoint)
	s, err := blob.OpenS3(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		infos, err := s.List(ctx, "")
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, info := range infos {
			if err := s.Delete(ctx, info.Key); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		s.Close()
	})
	return s
}

func TestS3(t *testing.T) {
	ctx := context.Background()
	store := MustOpenS3(t)
	t.Run("OK", func(t *testing.T) {
		d, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2023-03"), dataset.IngestOptions{Rule: tlc.RuleCourse})
		if err != nil {
			t.Fatal(err)
		}
		man := d.Manifest
		if !strings.HasPrefix(man.URI, "s3://tripcast-test-dataset/") {
			t.Fatalf("got URI %s, want s3://tripcast-test-dataset/...", man.URI)
		}
		want, _, err := tlc.LoadFile(testfiles.Green(t, "2023-03"), tlc.RuleCourse)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"2023-03", man.URI} {
			got, err := dataset.Load(ctx, store, ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			if got.Manifest.SHA256 != man.SHA256 {
				t.Fatalf("got sha256 %s, want %s", got.Manifest.SHA256, man.SHA256)
			}
			sameTrips(t, got.Trips, want)
			checkRows(t, testfiles.Green(t, "2023-03"), got)
		}
		list, err := dataset.List(ctx, store)
		if err != nil || len(list) != 1 || list[0].Ref() != "green/2023-03/course" {
			t.Fatalf("got %v, %v, want green/2023-03/course", list, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := dataset.Load(ctx, store, "yellow/2023-03"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Fatalf("got %v, want %s", err, tripcast.ENOTFOUND)
		}
	})
}
