// Package blob implements tripcast.BlobStore on a local folder (File) and on
// S3 or any S3-compatible server (S3).
//
// Keys are "/"-separated relative paths such as "raw/green/2021-01.parquet":
// not empty, no leading or trailing "/", no empty, "." or ".." elements, and
// no element starting with ".tripcast" (reserved for the file store's own
// bookkeeping). Both stores reject other keys with an EINVALID error that
// names the key.
package blob

import (
	"context"
	"io"
	"io/fs"
	"strings"

	"tripcast"
)

// reserved prefixes a path element may not start with: the file store keeps
// its temporary files and sha256 records under names starting with it.
const reserved = ".tripcast"

// checkKey returns an EINVALID error naming key when it is not a valid key.
func checkKey(key string) error {
	if key == "" {
		return tripcast.FieldError("key", "blob key must not be empty")
	}
	if key == "." || !fs.ValidPath(key) || strings.ContainsAny(key, "\\\x00") {
		return tripcast.FieldError("key", "blob key %q must be a relative \"/\"-separated path without empty, \".\" or \"..\" elements", key)
	}
	for _, el := range strings.Split(key, "/") {
		if strings.HasPrefix(el, reserved) {
			return tripcast.FieldError("key", "blob key %q: elements starting with %q are reserved", key, reserved)
		}
	}
	return nil
}

// checkPrefix is checkKey for List prefixes, which may be empty and may end
// with "/".
func checkPrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" && prefix != "/" {
		return nil
	}
	if err := checkKey(p); err != nil {
		return tripcast.FieldError("prefix", "blob prefix %q must be a relative \"/\"-separated path without \".\" or \"..\" elements", prefix)
	}
	return nil
}

// ctxReader fails reads once ctx is done, so a cancelled Put stops streaming.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
