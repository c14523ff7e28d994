package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"tripcast/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.csv")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(path, func(f *os.File) error {
			_, err := io.WriteString(f, "new")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
			t.Fatalf("got %q, %v, want new", b, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("got %d files in the folder, want 1 (no temporary left)", len(ents))
		}
	})
	t.Run("ErrWrite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.csv")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := atomicfile.Write(path, func(f *os.File) error {
			io.WriteString(f, "partial")
			return boom
		})
		if err != boom {
			t.Fatalf("got error %v, want the write function's, as is", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Fatalf("got %q, want old (untouched)", b)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("got %d files in the folder, want 1 (no temporary left)", len(ents))
		}
	})
	t.Run("ErrNoFolder", func(t *testing.T) {
		err := atomicfile.Write(filepath.Join(t.TempDir(), "missing", "out.csv"), func(*os.File) error { return nil })
		var pe *os.PathError
		if !errors.As(err, &pe) {
			t.Fatalf("got error %v, want an *os.PathError", err)
		}
	})
}
