package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast/dataset"
	"tripcast/internal/testfiles"
)

// tlcData returns ../shared/data/tlc. consume_test.go calls it; new code
// calls package testdata.
// runIngest runs the root command with args and returns stdout, stderr.
func runIngest(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// ingestLines decodes the --json output, one object per line.
func ingestLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("got line %q, want JSON: %v", line, err)
		}
		res = append(res, m)
	}
	return res
}

func TestIngest(t *testing.T) {
	data := testfiles.TLCDir(t)
	t.Run("OK/From", func(t *testing.T) {
		dir := t.TempDir()
		out, errOut, err := runIngest(t, "ingest", "--data-dir", dir, "--rule", "course", "--json",
			"--from", filepath.Join(data, "green_tripdata_2021-01.parquet"), "--from", filepath.Join(data, "green_tripdata_2021-02.parquet"))
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		lines := ingestLines(t, out)
		if len(lines) != 2 {
			t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
		}
		for i, want := range []struct {
			read, kept float64
		}{{76518, 73908}, {64572, 61921}} {
			l := lines[i]
			if l["rows_read"] != want.read || l["rows_kept"] != want.kept || l["rule"] != "course" {
				t.Fatalf("got %v, want rows_read %v rows_kept %v", l, want.read, want.kept)
			}
			dropped, _ := l["dropped"].(map[string]any)
			if dropped["duration_out_of_range"] != want.read-want.kept {
				t.Fatalf("got dropped %v, want duration_out_of_range %v", dropped, want.read-want.kept)
			}
			if !strings.HasPrefix(l["dataset"].(string), "file://"+dir+"/blobs/datasets/green/") || len(l["sha256"].(string)) != 64 {
				t.Fatalf("got dataset %v sha256 %v, want a file URI under %s/blobs", l["dataset"], l["sha256"], dir)
			}
			if !strings.HasSuffix(l["file"].(string), ".parquet") {
				t.Fatalf("got file %v, want the parquet path", l["file"])
			}
		}
		// The datasets are stored where training will look for them.
		if _, err := os.Stat(filepath.Join(dir, "blobs", "datasets", "green", "2021-02", "course", "manifest.json")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "raw", "green", "2021-01.parquet")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OK/Folder", func(t *testing.T) {
		src := t.TempDir()
		b, _ := os.ReadFile(filepath.Join(data, "green_tripdata_2023-03.parquet"))
		os.WriteFile(filepath.Join(src, "green_tripdata_2023-03.parquet"), b, 0o644)
		out, errOut, err := runIngest(t, "ingest", "--data-dir", t.TempDir(), "--from", src)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if !strings.Contains(out, "green 2023-03 (default rule): read 72044, kept 69330") {
			t.Fatalf("got %q, want the 2023-03 summary", out)
		}
	})
	t.Run("OK/Download", func(t *testing.T) {
		// The TLC site's layout, serving the real files.
		mux := http.NewServeMux()
		mux.Handle("/trip-data/", http.StripPrefix("/trip-data/", http.FileServer(http.Dir(data))))
		mux.HandleFunc("/misc/taxi_zone_lookup.csv", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(data, "taxi_zone_lookup.csv"))
		})
		srv := httptest.NewServer(mux)
		defer srv.Close()
		dir := t.TempDir()
		out, errOut, err := runIngest(t, "ingest", "--data-dir", dir, "--json", "--month", "2021-02",
			"--base-url", srv.URL+"/trip-data/")
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		l := ingestLines(t, out)[0]
		if l["file"] != srv.URL+"/trip-data/green_tripdata_2021-02.parquet" || l["rows_kept"] != float64(61894) || l["month"] != "2021-02" {
			t.Fatalf("got %v, want 61894 rows kept from the URL", l)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", dataset.ZonesKey)); err != nil {
			t.Fatalf("got %v, want the zone lookup stored", err)
		}
		// Nothing is left in the download folder.
		if m, _ := filepath.Glob(filepath.Join(dir, "download-*")); len(m) != 0 {
			t.Fatalf("got %v left behind, want none", m)
		}
	})
	t.Run("ErrNotPublished", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		out, _, err := runIngest(t, "ingest", "--data-dir", t.TempDir(), "--json", "--month", "2031-01", "--base-url", srv.URL)
		if err == nil {
			t.Fatal("got no error, want month not published")
		}
		l := ingestLines(t, out)[0]
		if !strings.Contains(l["error"].(string), "month not published") {
			t.Fatalf("got %v, want month not published", l)
		}
	})
	t.Run("ErrBadFile", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "green_tripdata_2021-01.parquet")
		os.WriteFile(bad, []byte("PAR1 not really"), 0o644)
		dir := t.TempDir()
		out, _, err := runIngest(t, "ingest", "--data-dir", dir, "--json", "--from", bad,
			"--from", filepath.Join(data, "green_tripdata_2021-03.parquet"))
		if err == nil || !strings.Contains(err.Error(), "1 of 2 files failed") {
			t.Fatalf("got %v, want 1 of 2 files failed", err)
		}
		lines := ingestLines(t, out)
		if e, _ := lines[0]["error"].(string); !strings.Contains(e, bad) || !strings.Contains(e, "truncated") {
			t.Fatalf("got %v, want a truncated-file error naming %s", lines[0], bad)
		}
		if lines[1]["rows_kept"] != float64(80349) {
			t.Fatalf("got %v, want the good file ingested", lines[1])
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "raw", "green", "2021-01.parquet")); !os.IsNotExist(err) {
			t.Fatalf("got %v, want no raw file stored for the bad file", err)
		}
	})
	t.Run("ErrNothing", func(t *testing.T) {
		_, _, err := runIngest(t, "ingest", "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "--from") {
			t.Fatalf("got %v, want a hint to use --from or --month", err)
		}
	})
	t.Run("ErrRule", func(t *testing.T) {
		_, _, err := runIngest(t, "ingest", "--data-dir", t.TempDir(), "--rule", "strict", "--month", "2021-01")
		if err == nil || !strings.Contains(err.Error(), "rule") {
			t.Fatalf("got %v, want an unknown rule error", err)
		}
	})
}
