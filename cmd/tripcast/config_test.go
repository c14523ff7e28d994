package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// runCmd runs the tripcast command tree with args and returns its stdout.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// mustRunWith returns a function that runs the command tree with its args
// followed by extra (such as --data-dir DIR), fails the test when the
// command fails, and returns its stdout.
func mustRunWith(t *testing.T, extra ...string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, err := runCmd(t, append(args, extra...)...)
		if err != nil {
			t.Fatalf("tripcast %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
}

func TestConfigCmd(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("TRIPCAST_LISTEN", "127.0.0.1:9000")
		out, err := runCmd(t, "config", "--json", "--data-dir", dir, "--db", "postgres://u:hunter2@127.0.0.1:5432/test")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret not masked: %s", out)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got["listen"] != "127.0.0.1:9000" || got["data_dir"] != dir || got["db"] != "postgres://u:xxxxx@127.0.0.1:5432/test" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("ErrBadFlag", func(t *testing.T) {
		_, err := runCmd(t, "config", "--log-level", "loud")
		if err == nil || !strings.Contains(err.Error(), "log_level") {
			t.Fatalf("got %v, want a log_level error", err)
		}
	})
}
