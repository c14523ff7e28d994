package tripcast_test

import (
	"testing"

	"tripcast"
)

func TestRollbackTarget(t *testing.T) {
	mv := func(from, to int, rb bool) tripcast.AliasMove {
		return tripcast.AliasMove{From: from, To: to, Rollback: rb}
	}
	for _, tc := range []struct {
		name string
		hist []tripcast.AliasMove
		want int
		ok   bool
	}{
		{"empty", nil, 0, false},
		{"first move", []tripcast.AliasMove{mv(0, 1, false)}, 0, false},
		{"one earlier", []tripcast.AliasMove{mv(0, 1, false), mv(1, 2, false)}, 1, true},
		{"after a rollback", []tripcast.AliasMove{mv(0, 1, false), mv(1, 2, false), mv(2, 3, false), mv(3, 2, true)}, 1, true},
		{"all rolled back", []tripcast.AliasMove{mv(0, 1, false), mv(1, 2, false), mv(2, 1, true)}, 0, false},
		{"promote after rollback", []tripcast.AliasMove{mv(0, 1, false), mv(1, 2, false), mv(2, 1, true), mv(1, 4, false)}, 1, true},
	} {
		got, ok := tripcast.RollbackTarget(tc.hist)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %d, %v, want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
