//go:build unix

package stream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"tripcast"
)

// lockDir takes an exclusive advisory lock on dir, so that two processes
// never run embedded servers on the same files (nats-server does not check).
// The kernel drops the lock when the process dies, even by kill -9.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "tripcast-nats.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, tripcast.Errorf(tripcast.ECONFLICT, "another process runs the embedded NATS server on %s", dir)
		}
		return nil, fmt.Errorf("embedded nats: lock %s: %w", dir, err)
	}
	return f, nil
}
