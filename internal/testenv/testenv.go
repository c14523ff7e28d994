// Package testenv decides what a test does when a server or tool it needs
// (PostgreSQL, NATS, S3, Kinesis, XGBoost) is missing: it skips, unless the
// environment variable CI is "true", where it fails, so that CI never passes
// by skipping.
package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// CI reports whether the tests run in CI (environment variable CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test with the formatted message, or fails it with
// the message when CI=true.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatal(msg + " (CI=true)")
	}
	tb.Skip(msg)
}

// Require skips the test (or fails it when CI=true) unless something
// accepts TCP connections at addr ("127.0.0.1:4222"); what names the server
// in the message ("NATS").
func Require(tb testing.TB, what, addr string) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		SkipOrFail(tb, "%s not reachable at %s (%v): start it with .ci/run", what, addr, err)
		return
	}
	conn.Close()
}

// S3Endpoint returns the test S3 server's endpoint
// (TRIPCAST_TEST_S3_ENDPOINT, default http://127.0.0.1:7070, started by
// .ci/s3.sh), after Require on it, and sets the test credentials
// test/testsecret when the environment has none.
func S3Endpoint(tb testing.TB) string {
	tb.Helper()
	endpoint := os.Getenv("TRIPCAST_TEST_S3_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:7070"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		tb.Fatalf("TRIPCAST_TEST_S3_ENDPOINT=%q: not an http:// URL", endpoint)
	}
	Require(tb, "S3 server", u.Host)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "testsecret"} {
		if os.Getenv(k) == "" {
			tb.Setenv(k, v)
		}
	}
	return endpoint
}

// WaitFor polls cond every poll until it holds, failing the test when it
// still does not after within; what names the awaited condition in the
// message.
func WaitFor(tb testing.TB, within, poll time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(poll)
	}
}
