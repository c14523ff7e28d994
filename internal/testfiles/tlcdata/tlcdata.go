// Package tlcdata loads the real green taxi months of ../shared/data/tlc for
// tests, cleaned with tlc's course rule. It is apart from package testfiles
// because it imports tlc, whose own tests use testfiles.
package tlcdata

import (
	"sync"
	"testing"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// Course loads the green month ("2021-01") with tlc.RuleCourse, afresh on
// every call: the caller may modify the result. The test fails when the
// month cannot be loaded.
func Course(tb testing.TB, month string) *tripcast.Trips {
	tb.Helper()
	path := testfiles.Green(tb, month)
	trips, _, err := tlc.LoadFile(path, tlc.RuleCourse)
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	return trips
}

var (
	cachedMu sync.Mutex
	cached   = map[string]*tripcast.Trips{}
)

// CourseShared is Course loaded once per test binary and shared by every
// caller (the files are read-only): callers must not modify the result.
func CourseShared(tb testing.TB, month string) *tripcast.Trips {
	tb.Helper()
	cachedMu.Lock()
	defer cachedMu.Unlock()
	if t, ok := cached[month]; ok {
		return t
	}
	t := Course(tb, month)
	cached[month] = t
	return t
}
