// Package blobtest opens blob stores for other packages' tests. (Package
// blob's own tests cannot import it: it imports blob.)
package blobtest

import (
	"testing"

	"tripcast/blob"
)

// MustOpenFile returns a file blob store in a temporary folder, closed when
// the test ends.
func MustOpenFile(tb testing.TB) *blob.File {
	tb.Helper()
	s, err := blob.NewFile(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
