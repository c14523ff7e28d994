package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast"
)

func TestFile(t *testing.T) {
	runConformance(t, func(t *testing.T) tripcast.BlobStore { return MustOpenFile(t) })
}

// MustOpenFile returns a File store over a fresh temporary folder.
func MustOpenFile(t testing.TB) *File {
	t.Helper()
	s, err := NewFile(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileLayout(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		s := MustOpenFile(t)
		mustPut(t, s, "raw/green/2021-01.parquet", []byte("pq"))
		b, err := os.ReadFile(filepath.Join(s.Dir(), "raw", "green", "2021-01.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "pq" {
			t.Fatalf("got %q, want %q", b, "pq")
		}
		if got, want := s.URI("raw/green/2021-01.parquet"), "file://"+filepath.ToSlash(s.Dir())+"/raw/green/2021-01.parquet"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		// Only objects and the sha256 records' folder: no temporary files.
		var names []string
		filepath.WalkDir(s.Dir(), func(p string, d fs.DirEntry, err error) error {
			if !d.IsDir() && !strings.Contains(p, metaDir) {
				names = append(names, filepath.Base(p))
			}
			return nil
		})
		if strings.Join(names, ",") != "2021-01.parquet" {
			t.Fatalf("got files %q, want only the object", names)
		}
	})
	t.Run("OKStaleRecord", func(t *testing.T) {
		// An object replaced behind the store's back gets a fresh sha256.
		s := MustOpenFile(t)
		mustPut(t, s, "k", []byte("original"))
		p := filepath.Join(s.Dir(), "k")
		if err := os.WriteFile(p, []byte("replaced!"), 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stat(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		checkInfo(t, st, "k", []byte("replaced!"))
	})
	t.Run("OKNoRecord", func(t *testing.T) {
		// A file dropped into the folder by hand is an object too.
		s := MustOpenFile(t)
		if err := os.MkdirAll(filepath.Join(s.Dir(), "hand"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir(), "hand", "made"), []byte("by hand"), 0o644); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("got %d objects, want 1", len(list))
		}
		checkInfo(t, list[0], "hand/made", []byte("by hand"))
	})
	t.Run("OKDeletePrunes", func(t *testing.T) {
		s := MustOpenFile(t)
		mustPut(t, s, "a/b/c", []byte("x"))
		if err := s.Delete(ctx, "a/b/c"); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Fatalf("got %d entries left in the store folder, want 0", len(entries))
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		s := MustOpenFile(t)
		mustPut(t, s, "a/b", []byte("x"))
		if _, err := s.Put(ctx, "a", bytes.NewReader([]byte("y"))); tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Fatalf("Put(a): got %v, want ECONFLICT", err)
		}
		if _, err := s.Put(ctx, "a/b/c", bytes.NewReader([]byte("y"))); tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Fatalf("Put(a/b/c): got %v, want ECONFLICT", err)
		}
	})
	t.Run("ErrEmptyDir", func(t *testing.T) {
		if _, err := NewFile(""); tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Fatalf("got %v, want EINVALID", err)
		}
	})
}

func BenchmarkFile(b *testing.B) { benchStore(b, MustOpenFile(b)) }

// benchStore measures Put and Open of a 1 MB object on s.
func benchStore(b *testing.B, s tripcast.BlobStore) {
	ctx := context.Background()
	data := make([]byte, 1<<20)
	(&seeded{newPCG()}).Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	b.Run("Put1MB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			info, err := s.Put(ctx, "bench/put", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if info.SHA256 != want {
				b.Fatalf("got sha256 %s, want %s", info.SHA256, want)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/put")
	})
	b.Run("Open1MB", func(b *testing.B) {
		mustPut(b, s, "bench/open", data)
		buf := make([]byte, 64<<10)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rc, err := s.Open(ctx, "bench/open")
			if err != nil {
				b.Fatal(err)
			}
			var n int
			for {
				m, err := rc.Read(buf)
				n += m
				if err != nil {
					break
				}
			}
			rc.Close()
			if n != len(data) {
				b.Fatalf("got %d bytes, want %d", n, len(data))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/open")
	})
}
