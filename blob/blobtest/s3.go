package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"tripcast/blob"
	"tripcast/internal/testenv"
)

// MustOpenS3 opens a store on the test S3 server (see testenv.S3Endpoint)
// under a fresh prefix of the bucket tripcast-test-<name>, and deletes what
// the test wrote when it ends. It skips when the server does not answer,
// unless CI=true.
func MustOpenS3(tb testing.TB, name string) *blob.S3 {
	tb.Helper()
	endpoint := testenv.S3Endpoint(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	raw := "s3://tripcast-test-" + name + "/" + hex.EncodeToString(b) + "/?create=true&region=us-east-1&endpoint=" + url.QueryEscape(endpoint)
	s, err := blob.OpenS3(context.Background(), raw)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		infos, err := s.List(ctx, "")
		if err != nil {
			tb.Errorf("cleanup: %v", err)
		}
		for _, info := range infos {
			if err := s.Delete(ctx, info.Key); err != nil {
				tb.Errorf("cleanup: %v", err)
			}
		}
		s.Close()
	})
	return s
}
