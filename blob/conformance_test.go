package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"tripcast"
)

// runConformance runs the tripcast.BlobStore contract tests against the
// stores newStore returns (a fresh, empty store per call).
func runConformance(t *testing.T, newStore func(t *testing.T) tripcast.BlobStore) {
	ctx := context.Background()

	t.Run("PutOpen", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			data := []byte("hello, taxi\n")
			info, err := s.Put(ctx, "models/m1/model.json", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, info, "models/m1/model.json", data)
			if got := mustRead(t, s, "models/m1/model.json"); !bytes.Equal(got, data) {
				t.Fatalf("got %q, want %q", got, data)
			}
		})
		t.Run("OKEmpty", func(t *testing.T) {
			s := newStore(t)
			info, err := s.Put(ctx, "empty", bytes.NewReader(nil))
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, info, "empty", nil)
			if got := mustRead(t, s, "empty"); len(got) != 0 {
				t.Fatalf("got %d bytes, want 0", len(got))
			}
		})
		t.Run("OKOverwrite", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "k", []byte("first version, longer than the second"))
			info := mustPut(t, s, "k", []byte("second"))
			checkInfo(t, info, "k", []byte("second"))
			if got := mustRead(t, s, "k"); string(got) != "second" {
				t.Fatalf("got %q, want %q", got, "second")
			}
			st, err := s.Stat(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, st, "k", []byte("second"))
		})
		t.Run("OKLarge", func(t *testing.T) {
			s := newStore(t)
			const size = 20 << 20
			// Stream 20 MB from a seeded generator: the store never sees the
			// whole object in memory.
			want := sha256.New()
			r := io.TeeReader(io.LimitReader(&seeded{rand.NewPCG(1, 2)}, size), want)
			info, err := s.Put(ctx, "large/object.bin", struct{ io.Reader }{r})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != size {
				t.Fatalf("got size %d, want %d", info.Size, size)
			}
			if w := hex.EncodeToString(want.Sum(nil)); info.SHA256 != w {
				t.Fatalf("got sha256 %s, want %s", info.SHA256, w)
			}
			rc, err := s.Open(ctx, "large/object.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				t.Fatal(err)
			}
			if n != size || hex.EncodeToString(h.Sum(nil)) != info.SHA256 {
				t.Fatalf("got %d bytes sha256 %x, want %d bytes sha256 %s", n, h.Sum(nil), size, info.SHA256)
			}
		})
		t.Run("ErrReaderFails", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "keep", []byte("old"))
			boom := errors.New("disk on fire")
			r := io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20)), &failing{boom})
			if _, err := s.Put(ctx, "broken/obj", r); !errors.Is(err, boom) {
				t.Fatalf("got %v, want an error wrapping %v", err, boom)
			}
			if _, err := s.Put(ctx, "keep", io.MultiReader(strings.NewReader("new"), &failing{boom})); !errors.Is(err, boom) {
				t.Fatalf("got %v, want an error wrapping %v", err, boom)
			}
			if got := mustRead(t, s, "keep"); string(got) != "old" {
				t.Fatalf("got %q after failed overwrite, want %q", got, "old")
			}
			if _, err := s.Stat(ctx, "broken/obj"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
				t.Fatalf("got %v, want ENOTFOUND", err)
			}
			list, err := s.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if keys := keysOf(list); strings.Join(keys, ",") != "keep" {
				t.Fatalf("got keys %q, want [keep]", keys)
			}
		})
		t.Run("ErrCancelled", func(t *testing.T) {
			s := newStore(t)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Put(cctx, "c", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if _, err := s.Stat(ctx, "c"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
				t.Fatalf("got %v, want ENOTFOUND", err)
			}
		})
		t.Run("ErrInvalidKey", func(t *testing.T) {
			s := newStore(t)
			for _, key := range []string{"", "/abs", "../up", "a/../b", "a//b", "a/", "./a", ".", "a/./b", ".tripcast-meta/x"} {
				_, err := s.Put(ctx, key, strings.NewReader("x"))
				if tripcast.ErrorCode(err) != tripcast.EINVALID {
					t.Errorf("Put(%q): got %v, want EINVALID", key, err)
				} else if key != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
					t.Errorf("Put(%q): got %q, want the key named", key, err)
				}
				if _, err := s.Open(ctx, key); tripcast.ErrorCode(err) != tripcast.EINVALID {
					t.Errorf("Open(%q): got %v, want EINVALID", key, err)
				}
				if _, err := s.Stat(ctx, key); tripcast.ErrorCode(err) != tripcast.EINVALID {
					t.Errorf("Stat(%q): got %v, want EINVALID", key, err)
				}
				if err := s.Delete(ctx, key); tripcast.ErrorCode(err) != tripcast.EINVALID {
					t.Errorf("Delete(%q): got %v, want EINVALID", key, err)
				}
			}
			if _, err := s.List(ctx, "../"); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("List(../): got %v, want EINVALID", err)
			}
		})
	})

	t.Run("Stat", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			data := []byte("0123456789")
			put := mustPut(t, s, "a/b.txt", data)
			st, err := s.Stat(ctx, "a/b.txt")
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, st, "a/b.txt", data)
			if st.ModTime.IsZero() {
				t.Fatal("got zero ModTime, want the write time")
			}
			if d := st.ModTime.Sub(put.ModTime).Abs(); d.Seconds() > 1 {
				t.Fatalf("got ModTime %v, want about %v (Put's)", st.ModTime, put.ModTime)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "a/b", []byte("x"))
			for _, key := range []string{"missing", "a", "a/b/c", "a/bb"} {
				if _, err := s.Stat(ctx, key); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
					t.Errorf("Stat(%q): got %v, want ENOTFOUND", key, err)
				}
				if _, err := s.Open(ctx, key); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
					t.Errorf("Open(%q): got %v, want ENOTFOUND", key, err)
				}
				if err := s.Delete(ctx, key); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
					t.Errorf("Delete(%q): got %v, want ENOTFOUND", key, err)
				}
			}
		})
	})

	t.Run("List", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			keys := []string{"raw/yellow/2021-01.parquet", "raw/green/2021-02.parquet", "raw/green/2021-01.parquet",
				"raw/green-old/x", "raw-notes", "models/a", "raw/greenery", "z"}
			for i, k := range keys {
				mustPut(t, s, k, []byte(strings.Repeat("y", i+1)))
			}
			for _, tc := range []struct {
				prefix string
				want   string
			}{
				{"", "models/a,raw-notes,raw/green-old/x,raw/green/2021-01.parquet,raw/green/2021-02.parquet,raw/greenery,raw/yellow/2021-01.parquet,z"},
				{"raw/", "raw/green-old/x,raw/green/2021-01.parquet,raw/green/2021-02.parquet,raw/greenery,raw/yellow/2021-01.parquet"},
				{"raw/green/", "raw/green/2021-01.parquet,raw/green/2021-02.parquet"},
				{"raw/green", "raw/green-old/x,raw/green/2021-01.parquet,raw/green/2021-02.parquet,raw/greenery"},
				{"raw/green/2021-02", "raw/green/2021-02.parquet"},
				{"raw", "raw-notes,raw/green-old/x,raw/green/2021-01.parquet,raw/green/2021-02.parquet,raw/greenery,raw/yellow/2021-01.parquet"},
				{"nothing/", ""},
				{"nothing", ""},
				{"z/", ""},
			} {
				list, err := s.List(ctx, tc.prefix)
				if err != nil {
					t.Fatalf("List(%q): %v", tc.prefix, err)
				}
				if got := strings.Join(keysOf(list), ","); got != tc.want {
					t.Errorf("List(%q): got %s, want %s", tc.prefix, got, tc.want)
				}
			}
			list, err := s.List(ctx, "raw/green/2021-01")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 {
				t.Fatalf("got %d objects, want 1", len(list))
			}
			checkInfo(t, list[0], "raw/green/2021-01.parquet", []byte("yyy"))
		})
		t.Run("OKEmpty", func(t *testing.T) {
			s := newStore(t)
			list, err := s.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 0 {
				t.Fatalf("got %d objects, want 0", len(list))
			}
		})
	})

	t.Run("Delete", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "d/one", []byte("1"))
			mustPut(t, s, "d/two", []byte("2"))
			if err := s.Delete(ctx, "d/one"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, "d/one"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
				t.Fatalf("got %v, want ENOTFOUND", err)
			}
			if err := s.Delete(ctx, "d/one"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
				t.Fatalf("second Delete: got %v, want ENOTFOUND", err)
			}
			list, err := s.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keysOf(list), ","); got != "d/two" {
				t.Fatalf("got %s, want d/two", got)
			}
			if err := s.Delete(ctx, "d/two"); err != nil {
				t.Fatal(err)
			}
			// The key's former folder is no object and no obstacle.
			mustPut(t, s, "d", []byte("now a file"))
			if got := mustRead(t, s, "d"); string(got) != "now a file" {
				t.Fatalf("got %q, want %q", got, "now a file")
			}
		})
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			const n = 16
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i)
					info, err := s.Put(ctx, fmt.Sprintf("conc/%02d/obj", i), bytes.NewReader(data))
					if err == nil && info.Size != int64(len(data)) {
						err = fmt.Errorf("got size %d, want %d", info.Size, len(data))
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			list, err := s.List(ctx, "conc/")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != n {
				t.Fatalf("got %d objects, want %d", len(list), n)
			}
			for i, bi := range list {
				checkInfo(t, bi, fmt.Sprintf("conc/%02d/obj", i), bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i))
			}
		})
	})

	t.Run("URI", func(t *testing.T) {
		t.Run("OK", func(t *testing.T) {
			s := newStore(t)
			u := s.URI("a/b c.parquet")
			if !strings.HasSuffix(u, "/a/b%20c.parquet") && !strings.HasSuffix(u, "/a/b c.parquet") {
				t.Fatalf("got %q, want it to end with the key", u)
			}
			if !strings.HasPrefix(u, "file:///") && !strings.HasPrefix(u, "s3://") {
				t.Fatalf("got %q, want a file:/// or s3:// URI", u)
			}
		})
	})
}

func mustPut(t testing.TB, s tripcast.BlobStore, key string, data []byte) tripcast.BlobInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func mustRead(t testing.TB, s tripcast.BlobStore, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func checkInfo(t testing.TB, got tripcast.BlobInfo, key string, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	if got.Key != key {
		t.Errorf("got key %q, want %q", got.Key, key)
	}
	if got.Size != int64(len(data)) {
		t.Errorf("%s: got size %d, want %d", key, got.Size, len(data))
	}
	if w := hex.EncodeToString(sum[:]); got.SHA256 != w {
		t.Errorf("%s: got sha256 %q, want %q", key, got.SHA256, w)
	}
}

func keysOf(list []tripcast.BlobInfo) []string {
	keys := make([]string, len(list))
	for i, bi := range list {
		keys[i] = bi.Key
	}
	return keys
}

// seeded is an endless reader of deterministic pseudo-random bytes.
type seeded struct{ src rand.Source }

func (s *seeded) Read(p []byte) (int, error) {
	for i := 0; i < len(p); {
		v := s.src.Uint64()
		for j := 0; j < 8 && i < len(p); j++ {
			p[i] = byte(v >> (8 * j))
			i++
		}
	}
	return len(p), nil
}

// failing is a reader that always fails with err.
type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

func newPCG() *rand.PCG { return rand.NewPCG(1, 2) }
