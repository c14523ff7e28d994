package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"tripcast/internal/testenv"
	"tripcast/sqlstore/sqlstoretest"
)

// TestSecretsNeverPrinted runs commands as main does (run: every log line
// and the final error) with a secret in --stream, --db and --blob, for
// starts that fail and starts that succeed, and looks for the secret in
// everything printed (issue 12.6).
func TestSecretsNeverPrinted(t *testing.T) {
	testenv.Require(t, "NATS", "127.0.0.1:4222")
	const pw = "Pw9f3kZq7secret"
	pg := strings.Replace(sqlstoretest.FreshPostgres(t), "postgres://postgres@", "postgres://postgres:"+pw+"@", 1)
	dir := t.TempDir()
	uniq := "secret_" + filepath.Base(dir)
	natsOK := "nats://tripcast:" + pw + "@127.0.0.1:4222"
	for _, tc := range []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"StreamOK", []string{"check", "--stream", natsOK, "--db", pg, "--input", uniq + "_in", "--output", uniq + "_out", "--timeout", "300ms", "--log-level", "debug"}, false},
		{"StreamTokenOK", []string{"check", "--stream", "nats://" + pw + "@127.0.0.1:4222", "--input", uniq + "_in", "--output", uniq + "_out", "--timeout", "300ms"}, false},
		{"StreamUnreachable", []string{"check", "--stream", "nats://tripcast:" + pw + "@127.0.0.1:1", "--log-level", "debug"}, false},
		{"StreamSeveral", []string{"check", "--stream", "nats://u:" + pw + "@127.0.0.1:1,nats://u:" + pw + "@127.0.0.1:2"}, false},
		{"StreamBadURL", []string{"check", "--stream", "nats://u:" + pw + "@127.0.0.1:4222/path"}, false},
		{"DBOK", []string{"runs", "list", "--db", pg, "--log-level", "debug"}, true},
		{"DBUnreachable", []string{"runs", "list", "--db", "postgres://postgres:" + pw + "@127.0.0.1:1/test?connect_timeout=2"}, false},
		{"DBBadOption", []string{"runs", "list", "--db", pg + "&sslmode=bogus"}, false},
		{"DBKeyValueDSN", []string{"runs", "list", "--db", "host=127.0.0.1 user=postgres password=" + pw + " dbname=test"}, false},
		{"BlobUserinfo", []string{"models", "list", "--blob", "s3://AKIA:" + pw + "@bucket"}, false},
		{"BlobSecretParam", []string{"models", "list", "--blob", "s3://bucket?endpoint=http://127.0.0.1:7070&secret_key=" + pw}, false},
		{"BlobFileToken", []string{"models", "list", "--blob", "file:///tmp/x?token=" + pw}, false},
		{"ConfigOK", []string{"config", "--stream", natsOK, "--db", pg, "--nats-password", pw}, true},
		{"ConfigJSON", []string{"config", "--json", "--stream", natsOK, "--db", pg, "--nats-password", pw}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tc.args, "--data-dir", dir)
			code := run(context.Background(), args, &out, &errOut)
			if (code == 0) != tc.wantOK {
				t.Errorf("exit code %d, want success %v; stderr:\n%s", code, tc.wantOK, errOut.String())
			}
			all := out.String() + errOut.String()
			if strings.Contains(all, pw) {
				t.Fatalf("the secret was printed:\n%s", all)
			}
			if !tc.wantOK && errOut.Len() == 0 {
				t.Fatal("got no error output, want the failure explained")
			}
		})
	}
}
