package tlc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// tlcServer serves the real files of ../shared/data/tlc like the TLC site:
// /trip-data/<file> and /misc/taxi_zone_lookup.csv, with Range support
// (http.ServeContent). drop, when set, is asked before each request whether
// to cut the connection after half the body.
type tlcServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // "path range"
	drop     func(n int) bool
	noRange  bool
}

func newTLCServer(t *testing.T) *tlcServer {
	t.Helper()
	dir := testfiles.TLCDir(t)
	s := &tlcServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path+" "+r.Header.Get("Range"))
		n := len(s.requests)
		drop := s.drop != nil && s.drop(n)
		s.mu.Unlock()
		var path string
		switch {
		case strings.HasPrefix(r.URL.Path, "/trip-data/"):
			path = filepath.Join(dir, strings.TrimPrefix(r.URL.Path, "/trip-data/"))
		case r.URL.Path == "/misc/taxi_zone_lookup.csv":
			path = filepath.Join(dir, "taxi_zone_lookup.csv")
		default:
			http.NotFound(w, r)
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if s.noRange {
			r.Header.Del("Range")
		}
		if drop {
			// Announce the whole body, send half, then cut the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
			return
		}
		http.ServeContent(w, r, filepath.Base(path), time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *tlcServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("got %s with %d bytes, want the %d bytes of %s", got, len(a), len(b), want)
	}
}

func TestDownload(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		srv := newTLCServer(t)
		dst := filepath.Join(t.TempDir(), "green_tripdata_2021-01.parquet")
		var last, total int64
		err := (&tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data/", Progress: func(done, tot int64) { last, total = done, tot }}).Month(ctx, "green", "2021-01", dst)
		if err != nil {
			t.Fatal(err)
		}
		sameFile(t, dst, testfiles.Green(t, "2021-01"))
		if last != 1333519 || total != 1333519 {
			t.Fatalf("got progress %d/%d, want 1333519/1333519", last, total)
		}
		if _, rep, err := tlc.LoadFile(dst, tlc.RuleCourse); err != nil || rep.RowsKept != 73908 {
			t.Fatalf("got %v, %v, want 73908 rows kept", rep, err)
		}
	})
	t.Run("OK/Zones", func(t *testing.T) {
		srv := newTLCServer(t)
		d := &tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data/"}
		if got, want := d.ZoneLookupURL(), srv.URL+"/misc/taxi_zone_lookup.csv"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		dst := filepath.Join(t.TempDir(), "zones.csv")
		if err := d.Zones(ctx, dst); err != nil {
			t.Fatal(err)
		}
		sameFile(t, dst, testfiles.TLC(t, "taxi_zone_lookup.csv"))
	})
	t.Run("OK/DefaultURLs", func(t *testing.T) {
		var d tlc.Downloader
		if got, want := d.ZoneLookupURL(), tlc.ZonesURL; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if got, want := d.MonthURL("green", "2021-01"), "https://d37ci6vzurychx.cloudfront.net/trip-data/green_tripdata_2021-01.parquet"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("OK/ResumeAfterDrop", func(t *testing.T) {
		srv := newTLCServer(t)
		srv.drop = func(n int) bool { return n == 1 }
		dst := filepath.Join(t.TempDir(), "m.parquet")
		d := &tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data", Backoff: time.Millisecond}
		if err := d.Month(ctx, "green", "2023-03", dst); err != nil {
			t.Fatal(err)
		}
		sameFile(t, dst, testfiles.Green(t, "2023-03"))
		log := srv.log()
		want := []string{"/trip-data/green_tripdata_2023-03.parquet ", "/trip-data/green_tripdata_2023-03.parquet bytes=865499-"}
		if len(log) != 2 || log[0] != want[0] || log[1] != want[1] {
			t.Fatalf("got requests %q, want %q", log, want)
		}
	})
	t.Run("OK/RestartWithoutRange", func(t *testing.T) {
		srv := newTLCServer(t)
		srv.drop = func(n int) bool { return n <= 2 }
		srv.noRange = true
		dst := filepath.Join(t.TempDir(), "m.parquet")
		d := &tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data/", Backoff: time.Millisecond}
		if err := d.Month(ctx, "green", "2021-02", dst); err != nil {
			t.Fatal(err)
		}
		sameFile(t, dst, testfiles.Green(t, "2021-02"))
		if got := len(srv.log()); got != 3 {
			t.Fatalf("got %d requests, want 3", got)
		}
	})
	t.Run("ErrNotPublished", func(t *testing.T) {
		srv := newTLCServer(t)
		dir := t.TempDir()
		dst := filepath.Join(dir, "m.parquet")
		err := (&tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data/"}).Month(ctx, "green", "2031-01", dst)
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), "month not published") {
			t.Fatalf("got %v, want %s month not published", err, tripcast.ENOTFOUND)
		}
		if got := len(srv.log()); got != 1 {
			t.Fatalf("got %d requests, want 1 (no retry on 404)", got)
		}
		assertEmptyDir(t, dir)
	})
	t.Run("ErrGaveUp", func(t *testing.T) {
		srv := newTLCServer(t)
		srv.drop = func(int) bool { return true }
		srv.noRange = true
		dir := t.TempDir()
		d := &tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL + "/trip-data/", Backoff: time.Millisecond, Attempts: 3}
		err := d.Month(ctx, "green", "2021-01", filepath.Join(dir, "m.parquet"))
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("got %v, want gave up after 3 attempts", err)
		}
		assertEmptyDir(t, dir)
	})
	t.Run("ErrNotParquet", func(t *testing.T) {
		// The zone CSV served under a parquet name: complete, but not parquet.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, testfiles.TLC(t, "taxi_zone_lookup.csv"))
		}))
		defer srv.Close()
		dir := t.TempDir()
		err := (&tlc.Downloader{Client: srv.Client(), BaseURL: srv.URL}).Month(ctx, "green", "2021-01", filepath.Join(dir, "m.parquet"))
		if tripcast.ErrorCode(err) != tripcast.EINVALID || !strings.Contains(err.Error(), "no PAR1 magic") {
			t.Fatalf("got %v, want a verification error", err)
		}
		assertEmptyDir(t, dir)
	})
	t.Run("ErrBadMonth", func(t *testing.T) {
		err := (&tlc.Downloader{}).Month(ctx, "green", "2021-13", filepath.Join(t.TempDir(), "m"))
		if tripcast.ErrorField(err) != "month" {
			t.Fatalf("got %v, want a month field error", err)
		}
		err = (&tlc.Downloader{}).Month(ctx, "blue", "2021-01", filepath.Join(t.TempDir(), "m"))
		if tripcast.ErrorField(err) != "color" {
			t.Fatalf("got %v, want a color field error", err)
		}
	})
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("got %d files left in %s (%s), want none", len(ents), dir, ents[0].Name())
	}
}

func TestZones(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		z, err := tlc.LoadZones(testfiles.TLC(t, "taxi_zone_lookup.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if z.Len() != 265 {
			t.Fatalf("got %d zones, want 265", z.Len())
		}
		for _, tc := range []tlc.Zone{
			{1, "EWR", "Newark Airport", "EWR"},
			{132, "Queens", "JFK Airport", "Airports"},
			{56, "Queens", "Corona", "Boro Zone"},
			{265, "N/A", "Outside of NYC", "N/A"},
		} {
			got, ok := z.Lookup(tc.ID)
			if !ok || got != tc {
				t.Fatalf("got %+v, %v, want %+v", got, ok, tc)
			}
		}
		if _, ok := z.Lookup(266); ok {
			t.Fatal("got zone 266, want none")
		}
		boroughs := map[string]int{}
		for _, zone := range z.All() {
			boroughs[zone.Borough]++
		}
		if boroughs["Manhattan"] != 69 || boroughs["Brooklyn"] != 61 || boroughs["Staten Island"] != 20 {
			t.Fatalf("got %v, want Manhattan 69, Brooklyn 61, Staten Island 20", boroughs)
		}
	})
	for _, tc := range []struct{ name, csv, want string }{
		{"ErrEmpty", "", "empty"},
		{"ErrHeader", "id,borough,zone,service\n1,a,b,c\n", "want LocationID"},
		{"ErrID", "LocationID,Borough,Zone,service_zone\nx,a,b,c\n", "not a positive integer"},
		{"ErrDuplicate", "LocationID,Borough,Zone,service_zone\n1,a,b,c\n1,a,b,c\n", "appears twice"},
		{"ErrFields", "LocationID,Borough,Zone,service_zone\n1,a,b\n", "bad CSV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlc.ReadZones(strings.NewReader(tc.csv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
