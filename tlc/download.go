package tlc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
)

// DefaultBaseURL is the TLC trip-data site; a month is at
// DefaultBaseURL + FileName(color, month).
const DefaultBaseURL = "https://d37ci6vzurychx.cloudfront.net/trip-data/"

// Downloader fetches TLC files over HTTP into local files. A download is
// retried with exponential backoff on network errors, dropped connections and
// 5xx/429 answers, resuming with a Range request where the server allows it
// (restarting otherwise). The result is verified (size against
// Content-Length; for parquet, the PAR1 magic at both ends and a readable
// footer) and renamed into place: dst never holds a partial file.
// The zero value is ready to use.
type Downloader struct {
	Client   *http.Client // nil: http.DefaultClient
	BaseURL  string       // trip-data base URL; "": DefaultBaseURL
	ZonesURL string       // "": misc/taxi_zone_lookup.csv next to BaseURL's folder
	Attempts int          // tries per file; 0: 5
	Backoff  time.Duration
	// Progress, when set, is called as bytes arrive with the bytes done and
	// the total (-1 when unknown).
	Progress func(done, total int64)
	Log      *slog.Logger // nil: no logs
}

// MonthURL returns the URL of a month's file.
func (d *Downloader) MonthURL(color, month string) string {
	return d.base() + FileName(color, month)
}

// ZoneLookupURL returns the URL of taxi_zone_lookup.csv: ZonesURL, or
// ../misc/taxi_zone_lookup.csv from BaseURL (which gives ZonesURL for the
// TLC's site).
func (d *Downloader) ZoneLookupURL() string {
	if d.ZonesURL != "" {
		return d.ZonesURL
	}
	b, err := url.Parse(d.base())
	if err != nil {
		return ZonesURL
	}
	return b.ResolveReference(&url.URL{Path: "../misc/" + ZonesFile}).String()
}

func (d *Downloader) base() string {
	b := d.BaseURL
	if b == "" {
		b = DefaultBaseURL
	}
	if !strings.HasSuffix(b, "/") {
		b += "/"
	}
	return b
}

// Month downloads a month's <color>_tripdata_<month>.parquet into the file
// dst, with retries, resume and verification. A month the site does not
// have fails with ENOTFOUND ("month not published").
func (d *Downloader) Month(ctx context.Context, color, month, dst string) error {
	if color != "green" && color != "yellow" {
		return tripcast.FieldError("color", "unknown taxi color %q (want green or yellow)", color)
	}
	if _, err := time.Parse("2006-01", month); err != nil {
		return tripcast.FieldError("month", "%q is not a month (want YYYY-MM)", month)
	}
	u := d.MonthURL(color, month)
	err := d.fetch(ctx, u, dst, verifyParquet)
	if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
		return tripcast.Errorf(tripcast.ENOTFOUND, "%s %s: month not published (HTTP 404 at %s)", color, month, u)
	}
	return err
}

// Zones downloads taxi_zone_lookup.csv into dst and checks it parses.
func (d *Downloader) Zones(ctx context.Context, dst string) error {
	return d.fetch(ctx, d.ZoneLookupURL(), dst, func(path string, _ int64) error {
		_, err := LoadZones(path)
		return err
	})
}

// errNotFound is the 404 answer.
var errNotFound = errors.New("404 not found")

// retryable marks an error worth another attempt.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// fetch downloads u into dst through dst.part, retrying and resuming, then
// verifies the file and renames it into place.
func (d *Downloader) fetch(ctx context.Context, u, dst string, verify func(path string, size int64) error) error {
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	backoff := d.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", u, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			wait := backoff << (attempt - 2)
			if d.Log != nil {
				d.Log.Warn("download failed, retrying", "url", u, "attempt", attempt, "wait", wait, "err", lastErr)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("download %s: %w", u, ctx.Err())
			case <-time.After(wait):
			}
		}
		size, err := d.get(ctx, u, f)
		if err == nil {
			if err = f.Sync(); err == nil {
				err = verify(part, size)
			}
			if err == nil {
				break
			}
			// A complete file (its full Content-Length) that is not what
			// was expected: another try would get the same bytes.
			return &tripcast.Error{Code: tripcast.EINVALID, Message: fmt.Sprintf("download %s: verification failed", u), Err: err}
		}
		lastErr = err
		if errors.Is(err, errNotFound) {
			return &tripcast.Error{Code: tripcast.ENOTFOUND, Message: u + ": not found (HTTP 404)"}
		}
		var r retryable
		if !errors.As(err, &r) || ctx.Err() != nil {
			return fmt.Errorf("download %s: %w", u, err)
		}
		if attempt == attempts {
			return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: fmt.Sprintf("download %s: gave up after %d attempts", u, attempts), Err: err}
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download %s: %w", u, err)
	}
	if err := os.Rename(part, dst); err != nil {
		return fmt.Errorf("download %s: %w", u, err)
	}
	ok = true
	if d.Log != nil {
		d.Log.Debug("downloaded", "url", u, "file", dst)
	}
	return nil
}

// get makes one attempt: it asks for the bytes f lacks (a Range request when
// f is not empty) and appends them, or restarts f when the server sends the
// whole file. It returns the file's full size when complete.
func (d *Downloader) get(ctx context.Context, u string, f *os.File) (int64, error) {
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, retryable{err}
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusOK:
		// The whole file (the server ignored or was not sent a Range).
		if have > 0 {
			if err := restart(f); err != nil {
				return 0, err
			}
			have = 0
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			// Not the range asked for: start over on the next attempt.
			if err := restart(f); err != nil {
				return 0, err
			}
			return 0, retryable{fmt.Errorf("unexpected Content-Range %q", resp.Header.Get("Content-Range"))}
		}
		total = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if err := restart(f); err != nil {
			return 0, err
		}
		return 0, retryable{errors.New("range not satisfiable")}
	case resp.StatusCode == http.StatusNotFound:
		return 0, errNotFound
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return 0, retryable{fmt.Errorf("HTTP %s", resp.Status)}
	default:
		return 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	w := io.Writer(f)
	if d.Progress != nil {
		d.Progress(have, total)
		w = &progressWriter{w: f, done: have, total: total, fn: d.Progress}
	}
	n, err := io.Copy(w, resp.Body)
	have += n
	if err != nil {
		return 0, retryable{fmt.Errorf("connection dropped after %d bytes: %w", have, err)}
	}
	if total >= 0 && have != total {
		return 0, retryable{fmt.Errorf("got %d bytes, want %d (Content-Length)", have, total)}
	}
	return have, nil
}

// restart empties f for a download from byte 0.
func restart(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// parseContentRange parses "bytes start-end/size".
func parseContentRange(s string) (start, size int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	size, err2 := strconv.ParseInt(sz, 10, 64)
	if sz == "*" {
		size, err2 = -1, nil
	}
	return start, size, err1 == nil && err2 == nil
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}

// verifyParquet checks a downloaded file is a complete parquet file: PAR1 at
// both ends and a footer parquet-go can read.
func verifyParquet(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if size < 12 {
		return fmt.Errorf("%d bytes: too small for a parquet file", size)
	}
	var head, tail [4]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail[:], size-4); err != nil {
		return err
	}
	if !bytes.Equal(head[:], magic) || !bytes.Equal(tail[:], magic) {
		return errors.New("not a complete parquet file (no PAR1 magic at both ends)")
	}
	if _, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)); err != nil {
		return fmt.Errorf("unreadable parquet footer: %w", err)
	}
	return nil
}
