// Package testfiles locates the shared test data (the real TLC months and the
// reference fixtures in ../shared beside the repository) for tests.
package testfiles

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Shared returns the absolute path of the shared folder beside the
// repository (../shared from the repository root). The test fails when it
// does not exist.
func Shared(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testfiles: cannot locate the source file")
	}
	// file is <repo>/internal/testfiles/testfiles.go.
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	if _, err := os.Stat(filepath.Join(dir, "data", "tlc")); err != nil {
		tb.Fatalf("testfiles: shared data not found at %s: %v", dir, err)
	}
	return filepath.Clean(dir)
}

// TLCDir returns the path of the real TLC data folder, ../shared/data/tlc.
func TLCDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Shared(tb), "data", "tlc")
}

// TLC returns the path of a real TLC file in ../shared/data/tlc, such as
// TLC(t, "green_tripdata_2021-01.parquet").
func TLC(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(TLCDir(tb), name)
}

// Green returns the path of the green taxi file of month ("2021-01").
func Green(tb testing.TB, month string) string {
	tb.Helper()
	return TLC(tb, "green_tripdata_"+month+".parquet")
}

// Fixture returns the path of a file under ../shared/fixtures.
func Fixture(tb testing.TB, rel string) string {
	tb.Helper()
	return filepath.Join(Shared(tb), "fixtures", rel)
}
