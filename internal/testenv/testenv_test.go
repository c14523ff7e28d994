package testenv_test

import (
	"net"
	"testing"

	"tripcast/internal/testenv"
)

func TestRequire(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var sub *testing.T
		t.Run("server", func(t *testing.T) {
			sub = t
			testenv.Require(t, "test server", ln.Addr().String())
		})
		if sub.Skipped() || sub.Failed() {
			t.Fatalf("got skipped %v failed %v, want neither", sub.Skipped(), sub.Failed())
		}
	})
	t.Run("ErrUnreachableSkips", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there any more
		t.Setenv("CI", "")
		var sub *testing.T
		t.Run("server", func(t *testing.T) {
			sub = t
			testenv.Require(t, "test server", addr)
		})
		if !sub.Skipped() || sub.Failed() {
			t.Fatalf("got skipped %v failed %v, want skipped", sub.Skipped(), sub.Failed())
		}
	})
}
