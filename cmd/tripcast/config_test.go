package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast"
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

// TestConfigValidated: every command refuses a bad setting when the
// configuration loads, before doing anything, naming the setting and its
// source; tripcast config exits non-zero instead of printing it (issue
// 10.6).
func TestConfigValidated(t *testing.T) {
	for _, tc := range []struct {
		name, env, value, field, source string
		args                            []string
	}{
		{"ConfigEnv", "TRIPCAST_COMPACT_EVERY", "soon", "compact_every", "env TRIPCAST_COMPACT_EVERY", []string{"config"}},
		{"UpEnv", "TRIPCAST_COMPACT_EVERY", "-5m", "compact_every", "env TRIPCAST_COMPACT_EVERY", []string{"up"}},
		{"RunsFlag", "", "", "compact_every", "flag --compact-every", []string{"runs", "list", "--compact-every", "10"}},
		{"ServeListen", "TRIPCAST_LISTEN", "localhost", "listen", "env TRIPCAST_LISTEN", []string{"serve"}},
		{"ConfigKinesisHost", "", "", "stream", "flag --stream", []string{"config", "--stream", "kinesis://ride_events?region=eu-west-1"}},
		{"ConfigUnknownParam", "", "", "blob", "flag --blob", []string{"config", "--blob", "s3://b?endpont=http://x"}},
		{"ConfigSQLiteQuery", "", "", "db", "flag --db", []string{"config", "--db", "sqlite:///tmp/x.db?mode=ro"}},
		{"ConfigNATSPath", "", "", "stream", "flag --stream", []string{"config", "--stream", "nats://127.0.0.1:4222/ride_events"}},
		{"ConfigScheme", "", "", "stream", "flag --stream", []string{"config", "--stream", "kafka://x"}},
		{"ServeFollowZero", "", "", "follow-every", "flag --follow-every", []string{"serve", "--follow-every", "0s"}},
		{"UpFollowZero", "", "", "follow-every", "flag --follow-every", []string{"up", "--follow-every", "0s"}},
		{"ConsumeFollowNegative", "", "", "follow", "flag --follow", []string{"consume", "--follow", "-1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tc.env, tc.value)
			}
			dir := filepath.Join(t.TempDir(), "data")
			out, err := runCmd(t, append(tc.args, "--data-dir", dir)...)
			if tripcast.ErrorField(err) != tc.field || !strings.Contains(err.Error(), tc.source) {
				t.Fatalf("got %v, want an error on %s naming %q", err, tc.field, tc.source)
			}
			if out != "" {
				t.Errorf("got output %q, want none", out)
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("the data dir was created (%v): the command ran before the configuration was checked", serr)
			}
		})
	}
}
