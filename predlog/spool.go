package predlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tripcast"
)

// Defaults of SpoolOptions.
const (
	DefaultSyncEvery    = time.Second
	DefaultShipEvery    = time.Second
	DefaultConfirmEvery = 10 * time.Second
	DefaultSegmentBytes = 16 << 20
	DefaultMaxSpool     = 1 << 30
)

// confirmRecords: once this many records were handed to the next log
// without a flush, it is flushed before more are handed (memory stays
// bounded during a replay of many segments).
const confirmRecords = 100_000

// spoolExt ends a segment's file name: <20-digit sequence number>.spool.
const spoolExt = ".spool"

// SpoolOptions tune a Spool. Zero values take the defaults.
type SpoolOptions struct {
	// SyncEvery is how often the segment being written is fsynced: what a
	// machine crash (power loss, kernel panic) may lose. A process crash,
	// even kill -9, loses nothing Log accepted (see Spool).
	SyncEvery time.Duration
	// ShipEvery is how often the segment being written is closed and the
	// closed ones are handed to the next log.
	ShipEvery time.Duration
	// ConfirmEvery is how often the next log is flushed, after which the
	// segments handed to it are deleted (a flush of the parquet log writes
	// a file: flushing it every ShipEvery would make many small files).
	ConfirmEvery time.Duration
	// SegmentBytes: a segment this large is closed and shipped at once.
	SegmentBytes int64
	// MaxBytes bounds the spool on disk; Log refuses (EUNAVAILABLE: the
	// HTTP API answers 503) records beyond it, which happens only when
	// the next log cannot be written for long.
	MaxBytes int64
	// Logger gets shipping failures and replays. nil: discard.
	Logger *slog.Logger
}

// Spool is a local write-ahead spool in front of a prediction log (the
// request path's buffered SQL and parquet logs): an answered prediction
// survives a crash of the process.
//
// Log encodes the records and appends them to the current segment file of
// the spool's folder with one write(2) per group of concurrent calls (group
// commit), and returns once the kernel holds them; the HTTP API answers
// only then. In the background, every ShipEvery the segment is closed
// (fsynced) and the closed segments are read back and handed to the next
// log; every ConfirmEvery the next log is flushed and the segments it then
// holds durably are deleted. Segments left by a process that died are
// shipped the same way when the spool is opened again (a replay).
//
// Guarantees: a record Log accepted is in the kernel's page cache, so a
// crash of the process (kill -9, a panic, an OOM kill) loses none of them;
// a crash of the machine loses at most the records of the last SyncEvery.
// A record may reach the next log twice when the process dies between a
// flush of the next log and the deletion of the segment: the SQL log keeps
// it once, the parquet log may hold it twice. The spool holds at most
// MaxBytes; beyond it Log refuses.
//
// Only one process uses a folder at a time: OpenSpool locks it, and takes
// the next free folder <dir>.1, <dir>.2, … when another process holds it.
type Spool struct {
	dir  string
	next tripcast.PredictionLog
	o    SpoolOptions
	log  *slog.Logger
	lock *os.File

	mu   sync.Mutex
	cond *sync.Cond
	// writing is held by the goroutine writing a round to f: f is neither
	// closed nor swapped meanwhile.
	writing bool
	cur     *spoolRound // the round Log calls are adding to
	spare   []byte      // a written round's buffer, reused
	f       *os.File    // the segment being written; nil until the next write
	fseq    uint64      // f's sequence number
	fsize   int64       // bytes written to f
	nextSeq uint64
	sealed  []segment // closed segments, oldest first
	handed  int       // of sealed: how many the next log got (not yet confirmed)
	bytes   int64     // on disk: every segment
	closed  bool
	// writeErr is the last failed write's error (nil once one succeeds).
	writeErr error
	// shipErr is the last failed shipment's error, shipSince when
	// shipments began failing.
	shipErr   error
	shipSince time.Time

	shipMu      sync.Mutex // serializes ship
	lastConfirm time.Time  // under shipMu
	handedRecs  int        // under shipMu: records handed and not yet confirmed
	kick        chan struct{}
	stop        chan struct{}
	done        chan struct{}
}

// spoolRound is the bytes of one group of Log calls, written at once.
type spoolRound struct {
	buf      []byte
	finished bool
	err      error
}

// segment is a closed segment file.
type segment struct {
	seq  uint64
	size int64
}

var (
	_ tripcast.PredictionLog = (*Spool)(nil)
	_ tripcast.LogChecker    = (*Spool)(nil)
)

// OpenSpool opens the spool in dir (created when missing; see Spool for
// another process holding it), in front of next, and starts shipping: the
// segments a crashed process left are shipped first. Close it before
// closing next.
func OpenSpool(dir string, next tripcast.PredictionLog, o SpoolOptions) (*Spool, error) {
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.ShipEvery <= 0 {
		o.ShipEvery = DefaultShipEvery
	}
	if o.ConfirmEvery <= 0 {
		o.ConfirmEvery = DefaultConfirmEvery
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxSpool
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Spool{next: next, o: o, log: o.Logger, cur: &spoolRound{}, lastConfirm: time.Now(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	if err := s.lockDir(dir); err != nil {
		return nil, err
	}
	if err := s.scan(); err != nil {
		_ = s.lock.Close()
		return nil, err
	}
	if len(s.sealed) > 0 {
		s.log.Warn("prediction spool: replaying the segments a previous process left", "dir", s.dir,
			"segments", len(s.sealed), "bytes", s.bytes)
	}
	go s.loop()
	return s, nil
}

// lockDir locks dir, or the first of dir.1, dir.2, … no other process
// holds, creating it.
func (s *Spool) lockDir(dir string) error {
	for i := range 64 {
		d := dir
		if i > 0 {
			d = dir + "." + strconv.Itoa(i)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("prediction spool: create folder %s: %w", d, err)
		}
		f, err := os.OpenFile(filepath.Join(d, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("prediction spool: %w", err)
		}
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("prediction spool: lock %s: %w", d, err)
		}
		if ok {
			s.dir, s.lock = d, f
			return nil
		}
		f.Close()
	}
	return tripcast.Errorf(tripcast.EUNAVAILABLE, "prediction spool: %s and its 63 alternatives are held by other processes", dir)
}

// scan lists the segments already in the folder: all closed.
func (s *Spool) scan() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("prediction spool: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), spoolExt)
		if !ok || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("prediction spool: %w", err)
		}
		s.sealed = append(s.sealed, segment{seq: seq, size: info.Size()})
		s.bytes += info.Size()
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	slices.SortFunc(s.sealed, func(a, b segment) int { return cmpUint(a.seq, b.seq) })
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Dir returns the folder the spool writes.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolExt))
}

// Log appends recs to the spool and returns once they are written (in the
// kernel's page cache: see Spool). EUNAVAILABLE when the spool is closed,
// full (MaxBytes) or cannot be written.
func (s *Spool) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "prediction spool is closed")
	}
	r := s.cur
	before := len(r.buf)
	r.buf = appendFrames(r.buf, recs)
	if s.bytes+int64(len(r.buf)) > s.o.MaxBytes {
		r.buf = r.buf[:before]
		n := s.bytes
		s.mu.Unlock()
		return tripcast.Errorf(tripcast.EUNAVAILABLE,
			"prediction spool is full (%d bytes wait to be shipped, at most %d): the prediction log cannot be written", n, s.o.MaxBytes)
	}
	for !r.finished {
		if !s.writing {
			s.writeRound()
			continue
		}
		s.cond.Wait()
	}
	err := r.err
	s.mu.Unlock()
	if err != nil {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Err: err, Message: "prediction spool cannot be written"}
	}
	return nil
}

// writeRound writes the current round to the segment (opened when
// needed), s.mu held and released meanwhile. Every Log call of the round
// gets its outcome.
func (s *Spool) writeRound() {
	w := s.cur
	s.cur = &spoolRound{buf: s.spare[:0]}
	s.spare = nil
	var err error
	if s.f == nil {
		err = s.openSegment()
	}
	if err == nil {
		f := s.f
		s.writing = true
		s.mu.Unlock()
		_, err = f.Write(w.buf)
		s.mu.Lock()
		s.writing = false
		if err != nil {
			// Part of the round may be written: the segment ends here (a
			// reader stops at the torn frame; none of its records was
			// accepted).
			if f := s.sealCurrent(); f != nil {
				_ = f.Close()
			}
		} else {
			s.fsize += int64(len(w.buf))
			s.bytes += int64(len(w.buf))
			if s.fsize >= s.o.SegmentBytes {
				s.wake()
			}
		}
	}
	if err != nil {
		s.log.Error("prediction spool: write failed; predictions refused", "dir", s.dir, "err", err)
	}
	s.writeErr = err
	w.err, w.finished = err, true
	s.spare, w.buf = w.buf[:0], nil
	s.cond.Broadcast()
}

// openSegment creates the next segment file, s.mu held.
func (s *Spool) openSegment() error {
	seq := s.nextSeq
	f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("prediction spool: %w", err)
	}
	s.nextSeq++
	s.f, s.fseq, s.fsize = f, seq, 0
	return nil
}

// sealCurrent closes the segment being written and lists it as closed,
// s.mu held and no round being written. The file is fsynced by seal.
func (s *Spool) sealCurrent() *os.File {
	f := s.f
	if f == nil {
		return nil
	}
	s.f = nil
	s.sealed = append(s.sealed, segment{seq: s.fseq, size: s.fsize})
	return f
}

func (s *Spool) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// seal closes the segment being written (fsync, then close) so that it is
// shipped.
func (s *Spool) seal() error {
	s.mu.Lock()
	for s.writing {
		s.cond.Wait()
	}
	f := s.sealCurrent()
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sync fsyncs the segment being written and the folder.
func (s *Spool) sync() error {
	s.mu.Lock()
	f := s.f
	s.mu.Unlock()
	if f != nil {
		// A concurrent seal may close f first: it synced it before.
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loop ships every ShipEvery (or when a segment is full) and, in a
// goroutine of its own so that a hanging database never delays it, fsyncs
// every SyncEvery.
func (s *Spool) loop() {
	defer close(s.done)
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		t := time.NewTicker(s.o.SyncEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			if err := s.sync(); err != nil {
				s.log.Error("prediction spool: fsync failed", "dir", s.dir, "err", err)
			}
		}
	}()
	defer func() { <-syncDone }()
	t := time.NewTicker(s.o.ShipEvery)
	defer t.Stop()
	s.shipOnce(false) // what a previous process left
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
		s.shipOnce(false)
	}
}

// shipOnce seals and ships, logging failures.
func (s *Spool) shipOnce(confirm bool) {
	if err := s.seal(); err != nil {
		s.log.Error("prediction spool: closing a segment failed", "dir", s.dir, "err", err)
	}
	if err := s.ship(context.Background(), confirm); err != nil {
		s.log.Error("prediction spool: shipping to the prediction log failed; kept on disk for the next attempt",
			"dir", s.dir, "err", err, "bytes", s.Bytes())
	}
}

// ship hands the closed segments to the next log and, every ConfirmEvery
// (or when confirm is set), flushes it and deletes the segments it holds.
// While the next log fails no more segments are handed to it (they wait on
// disk, not in memory).
func (s *Spool) ship(ctx context.Context, confirm bool) error {
	s.shipMu.Lock()
	defer s.shipMu.Unlock()
	s.mu.Lock()
	todo := slices.Clone(s.sealed[s.handed:])
	failing := s.shipErr != nil
	s.mu.Unlock()
	var recs []tripcast.PredictionRecord
	for _, seg := range todo {
		if (failing && s.handedCount() > 0) || s.handedRecs >= confirmRecords {
			break
		}
		data, err := os.ReadFile(s.path(seg.seq))
		if err != nil {
			return s.shipFailed(fmt.Errorf("read segment: %w", err))
		}
		var off int
		recs, off, err = decodeFrames(data, recs[:0])
		if err != nil {
			s.log.Warn("prediction spool: segment ends with a torn frame (a write cut by a crash, never acknowledged); the rest of it is ignored",
				"segment", s.path(seg.seq), "records", len(recs), "ignored_bytes", len(data)-off)
		}
		if len(recs) > 0 {
			if err := s.next.Log(ctx, recs); err != nil {
				return s.shipFailed(err)
			}
		}
		s.handedRecs += len(recs)
		s.mu.Lock()
		s.handed++
		s.mu.Unlock()
	}
	if s.handedCount() == 0 || (!confirm && !failing && s.handedRecs < confirmRecords && time.Since(s.lastConfirm) < s.o.ConfirmEvery) {
		return nil
	}
	if err := s.next.Flush(ctx); err != nil {
		return s.shipFailed(err)
	}
	s.lastConfirm, s.handedRecs = time.Now(), 0
	s.mu.Lock()
	done := slices.Clone(s.sealed[:s.handed])
	s.mu.Unlock()
	for _, seg := range done {
		if err := os.Remove(s.path(seg.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return s.shipFailed(fmt.Errorf("delete shipped segment: %w", err))
		}
		s.mu.Lock()
		s.sealed = s.sealed[1:]
		s.handed--
		s.bytes -= seg.size
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.shipErr = nil
	s.mu.Unlock()
	return nil
}

func (s *Spool) handedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handed
}

func (s *Spool) shipFailed(err error) error {
	s.mu.Lock()
	if s.shipErr == nil {
		s.shipSince = time.Now()
	}
	s.shipErr = err
	s.mu.Unlock()
	return err
}

// Bytes returns the spool's size on disk: records not yet shipped and
// confirmed.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// CheckLog returns nil while the spool and the next log can be written
// (see tripcast.LogChecker): an EUNAVAILABLE error when the last write to
// the spool failed, or when shipping fails (the next log's own check when
// it has one), with the bytes waiting on disk.
func (s *Spool) CheckLog() error {
	s.mu.Lock()
	werr, serr, since, n := s.writeErr, s.shipErr, s.shipSince, s.bytes
	s.mu.Unlock()
	if werr != nil {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Err: werr, Message: "prediction spool cannot be written"}
	}
	if c, ok := s.next.(tripcast.LogChecker); ok {
		if err := c.CheckLog(); err != nil {
			return err
		}
	}
	if serr != nil {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Err: serr, Message: fmt.Sprintf(
			"prediction log cannot be written since %s (%d bytes spooled on disk, at most %d)",
			since.UTC().Format(time.RFC3339), n, s.o.MaxBytes)}
	}
	return nil
}

// Flush ships every record logged before the call and returns once the
// next log holds them durably (and their segments are deleted).
func (s *Spool) Flush(ctx context.Context) error {
	if err := s.seal(); err != nil {
		return fmt.Errorf("prediction spool: %w", err)
	}
	for {
		if err := s.ship(ctx, true); err != nil {
			return err
		}
		s.mu.Lock()
		left := len(s.sealed)
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
	}
}

// Close stops the background work and ships what is left. Log fails after
// Close. Records that cannot be shipped stay on disk and are shipped when
// the spool is opened again: Close says so, but nothing is lost.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.Flush(context.Background())
	defer s.lock.Close()
	if err != nil {
		return fmt.Errorf("close prediction spool: %w (%d bytes kept in %s for the next start)", err, s.Bytes(), s.dir)
	}
	return nil
}
