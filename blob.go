package tripcast

import (
	"context"
	"io"
	"time"
)

// BlobInfo describes one object in a BlobStore.
type BlobInfo struct {
	Key     string    // path inside the store, "/"-separated
	Size    int64     // bytes
	SHA256  string    // hex sha256 of the content, recorded when written
	ModTime time.Time // last write
}

// BlobStore is an object store: a local folder or S3. Keys are
// "/"-separated paths such as "raw/green/2021-01.parquet".
type BlobStore interface {
	// Put writes r under key and returns its size and sha256. The write is
	// atomic: on error nothing (not even a partial object) is left under key.
	Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error)
	// Open opens key for reading. ENOTFOUND when it does not exist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns key's info. ENOTFOUND when it does not exist.
	Stat(ctx context.Context, key string) (BlobInfo, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]BlobInfo, error)
	// Delete removes key. ENOTFOUND when it does not exist.
	Delete(ctx context.Context, key string) error
	// URI returns the full URI of key (file:///... or s3://bucket/key).
	URI(key string) string
	// Close releases the store's resources.
	Close() error
}
