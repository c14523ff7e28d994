// Package atomicfile writes local files atomically: into a temporary file in
// the destination's folder, renamed over the destination only when complete,
// so that a reader never sees a partial file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write creates a hidden temporary file beside path (mode 0600, as
// os.CreateTemp makes it), calls write with it, closes it and renames it
// over path. When write or a step fails, path is left as it was, the
// temporary file is removed and the error is returned as is (write's own,
// or the *os.PathError or *os.LinkError of the step, which names the file).
func Write(path string, write func(f *os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
