package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tripcast"
)

// metaDir is the folder, under the store's root, that mirrors the key tree
// with one small record per object: "<sha256 hex> <size> <mtime ns>\n".
const metaDir = ".tripcast-meta"

// File is a tripcast.BlobStore over a local folder: key k is the file
// <dir>/k. Put writes a temporary file next to the target, fsyncs it and
// renames it into place, so readers see the old object or the new one, never
// a partial one. The sha256 of each object is recorded in a sidecar under
// <dir>/.tripcast-meta/; the record carries the object's size and
// modification time, and Stat recomputes the digest when they no longer
// match (an object replaced behind the store's back, or a crash between the
// two renames).
type File struct {
	dir string // absolute, cleaned
}

var _ tripcast.BlobStore = (*File)(nil)

// NewFile returns a File store rooted at dir, creating dir if needed.
func NewFile(dir string) (*File, error) {
	if dir == "" {
		return nil, tripcast.FieldError("blob", "file store folder must not be empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob file store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("blob file store: %w", err)
	}
	return &File{dir: abs}, nil
}

// Dir returns the store's absolute root folder.
func (f *File) Dir() string { return f.dir }

func (f *File) path(key string) string { return filepath.Join(f.dir, filepath.FromSlash(key)) }
func (f *File) metaPath(key string) string {
	return filepath.Join(f.dir, metaDir, filepath.FromSlash(key))
}

// Put writes r under key atomically and returns its size and sha256.
func (f *File) Put(ctx context.Context, key string, r io.Reader) (tripcast.BlobInfo, error) {
	if err := checkKey(key); err != nil {
		return tripcast.BlobInfo{}, err
	}
	info, err := f.put(ctx, key, r)
	if err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("blob put %s: %w", f.URI(key), err)
	}
	return info, nil
}

func (f *File) put(ctx context.Context, key string, r io.Reader) (tripcast.BlobInfo, error) {
	dst := f.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return tripcast.BlobInfo{}, conflictOr(err, key)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), reserved+"-tmp-*")
	if err != nil {
		return tripcast.BlobInfo{}, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), ctxReader{ctx, r}, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return tripcast.BlobInfo{}, err
	}
	if err := tmp.Sync(); err != nil {
		return tripcast.BlobInfo{}, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return tripcast.BlobInfo{}, err
	}
	st, err := tmp.Stat()
	if err != nil {
		return tripcast.BlobInfo{}, err
	}
	if err := tmp.Close(); err != nil {
		return tripcast.BlobInfo{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if ds, err := os.Stat(dst); err == nil && ds.IsDir() {
		return tripcast.BlobInfo{}, conflictOr(syscall.EISDIR, key)
	}
	// The record goes first: if we stop between the two renames, the record
	// does not match the old object's size and mtime and Stat recomputes.
	if err := f.writeMeta(key, sum, n, st.ModTime()); err != nil {
		return tripcast.BlobInfo{}, conflictOr(err, key)
	}
	if err := ctx.Err(); err != nil {
		return tripcast.BlobInfo{}, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return tripcast.BlobInfo{}, conflictOr(err, key)
	}
	done = true
	syncDir(filepath.Dir(dst))
	return tripcast.BlobInfo{Key: key, Size: n, SHA256: sum, ModTime: st.ModTime()}, nil
}

// copyBufs holds Put's copy buffers: a 1 MB Put then allocates only its
// file and hash state.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// conflictOr turns the errors of a key that collides with a folder (Put "a"
// when "a/b" exists, or "a/b" when "a" exists) into ECONFLICT.
func conflictOr(err error, key string) error {
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return &tripcast.Error{Code: tripcast.ECONFLICT, Message: fmt.Sprintf("blob key %q collides with another key's folder", key), Err: err}
	}
	return err
}

// syncDir fsyncs a folder so a rename in it survives a crash (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (f *File) writeMeta(key, sum string, size int64, mod time.Time) error {
	mp := f.metaPath(key)
	if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
		return fmt.Errorf("sha256 record: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(mp), reserved+"-tmp-*")
	if err != nil {
		return fmt.Errorf("sha256 record: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "%s %d %d\n", sum, size, mod.UnixNano())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), mp)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sha256 record: %w", err)
	}
	return nil
}

// readMeta returns the recorded sha256 when the record matches st.
func (f *File) readMeta(key string, st fs.FileInfo) (string, bool) {
	b, err := os.ReadFile(f.metaPath(key))
	if err != nil {
		return "", false
	}
	fields := strings.Fields(string(b))
	if len(fields) != 3 || len(fields[0]) != sha256.Size*2 {
		return "", false
	}
	size, err1 := strconv.ParseInt(fields[1], 10, 64)
	mod, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || size != st.Size() || mod != st.ModTime().UnixNano() {
		return "", false
	}
	return fields[0], true
}

// Open opens key for reading. ENOTFOUND when it does not exist.
func (f *File) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	fh, err := os.Open(f.path(key))
	if err != nil {
		return nil, f.notFoundOr(err, key)
	}
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		fh.Close()
		return nil, tripcast.Errorf(tripcast.ENOTFOUND, "blob %s not found", f.URI(key))
	}
	return fh, nil
}

func (f *File) notFoundOr(err error, key string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return tripcast.Errorf(tripcast.ENOTFOUND, "blob %s not found", f.URI(key))
	}
	return fmt.Errorf("blob %s: %w", f.URI(key), err)
}

// Stat returns key's info. ENOTFOUND when it does not exist.
func (f *File) Stat(ctx context.Context, key string) (tripcast.BlobInfo, error) {
	if err := checkKey(key); err != nil {
		return tripcast.BlobInfo{}, err
	}
	st, err := os.Stat(f.path(key))
	if err != nil {
		return tripcast.BlobInfo{}, f.notFoundOr(err, key)
	}
	if !st.Mode().IsRegular() {
		return tripcast.BlobInfo{}, tripcast.Errorf(tripcast.ENOTFOUND, "blob %s not found", f.URI(key))
	}
	return f.info(key, st)
}

// info builds key's BlobInfo, recomputing (and re-recording) the sha256 when
// the record is missing or stale.
func (f *File) info(key string, st fs.FileInfo) (tripcast.BlobInfo, error) {
	bi := tripcast.BlobInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}
	if sum, ok := f.readMeta(key, st); ok {
		bi.SHA256 = sum
		return bi, nil
	}
	fh, err := os.Open(f.path(key))
	if err != nil {
		return tripcast.BlobInfo{}, f.notFoundOr(err, key)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("blob %s: sha256: %w", f.URI(key), err)
	}
	bi.SHA256 = hex.EncodeToString(h.Sum(nil))
	if st2, err := fh.Stat(); err == nil && st2.Size() == st.Size() && st2.ModTime().Equal(st.ModTime()) {
		_ = f.writeMeta(key, bi.SHA256, st.Size(), st.ModTime())
	}
	return bi, nil
}

// List returns the objects whose key starts with prefix, sorted by key.
func (f *File) List(ctx context.Context, prefix string) ([]tripcast.BlobInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the deepest folder every matching key must be under.
	start := f.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = f.path(prefix[:i])
	}
	type found struct {
		key string
		st  fs.FileInfo
	}
	var all []found
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), reserved) && p != start {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(f.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			// Prune folders no matching key can be under.
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while we walked
			}
			return err
		}
		all = append(all, found{key, st})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob list %s: %w", f.URI(prefix), err)
	}
	slices.SortFunc(all, func(a, b found) int { return strings.Compare(a.key, b.key) })
	out := make([]tripcast.BlobInfo, 0, len(all))
	for _, x := range all {
		bi, err := f.info(x.key, x.st)
		if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("blob list: %w", err)
		}
		out = append(out, bi)
	}
	return out, nil
}

// Delete removes key and any folders it leaves empty. ENOTFOUND when it does
// not exist.
func (f *File) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	p := f.path(key)
	if st, err := os.Stat(p); err != nil {
		return f.notFoundOr(err, key)
	} else if !st.Mode().IsRegular() {
		return tripcast.Errorf(tripcast.ENOTFOUND, "blob %s not found", f.URI(key))
	}
	if err := os.Remove(p); err != nil {
		return f.notFoundOr(err, key)
	}
	if err := os.Remove(f.metaPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete %s: sha256 record: %w", f.URI(key), err)
	}
	f.pruneDirs(path.Dir(key))
	f.pruneDirs(path.Join(metaDir, path.Dir(key)))
	return nil
}

// pruneDirs removes the empty folders from dir up to (not including) the
// root, so deleted keys leave no trace, as in S3. Folders another Put is
// filling are not empty and stay.
func (f *File) pruneDirs(dir string) {
	for dir != "." && dir != "/" && dir != "" {
		if err := os.Remove(f.path(dir)); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// URI returns file:///<dir>/<key>.
func (f *File) URI(key string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(f.dir, filepath.FromSlash(key)))}
	if key == "" || strings.HasSuffix(key, "/") {
		u.Path += "/"
	}
	return u.String()
}

// Close releases nothing: a File store holds no open resources.
func (f *File) Close() error { return nil }
