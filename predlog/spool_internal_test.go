package predlog

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tripcast"
	"tripcast/predlog/predlogtest"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

// abandon stops s as a killed process would: no shipping, no closing of
// the segment, the folder's lock released (the kernel's doing on exit).
func (s *Spool) abandon() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.lock.Close()
}

func mustOpenSpool(t *testing.T, dir string, next tripcast.PredictionLog, o SpoolOptions) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, next, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpool: records logged by concurrent callers (grouped writes) are
// shipped to the SQL log as they were, and their segments deleted.
func TestSpool(t *testing.T) {
	ctx := context.Background()
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		db := sqlstoretest.MustOpen(t, e.Fresh(t))
		dir := filepath.Join(t.TempDir(), "spool")
		s := mustOpenSpool(t, dir, Buffered(db.PredictionLog(), Options{FlushInterval: time.Hour}),
			SpoolOptions{ShipEvery: 20 * time.Millisecond, ConfirmEvery: 50 * time.Millisecond})
		recs := predlogtest.Records(2000, time.Millisecond)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(recs); i += 8 {
					if err := s.Log(ctx, recs[i:i+1]); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for s.Bytes() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := s.Bytes(); n != 0 {
			t.Fatalf("got %d bytes spooled after shipping, want 0", n)
		}
		if segs := segments(t, dir); len(segs) != 0 {
			t.Errorf("got segments %v left, want none", segs)
		}
		got := predlogtest.MustRead(t, db, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
		predlogtest.Same(t, got, recs)
	})
}

// TestSpoolReplay: records a killed process spooled (its last write torn)
// are shipped when the folder is opened again; a second process on the
// same folder takes another one.
func TestSpoolReplay(t *testing.T) {
	ctx := context.Background()
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	dir := filepath.Join(t.TempDir(), "spool")
	never := SpoolOptions{ShipEvery: time.Hour, ConfirmEvery: time.Hour, SyncEvery: time.Hour}
	// The killed process's next log buffers in memory (as serving's does):
	// what it was handed dies with it.
	s, err := OpenSpool(dir, Buffered(db.PredictionLog(), Options{FlushInterval: time.Hour}), never)
	if err != nil {
		t.Fatal(err)
	}
	other := mustOpenSpool(t, dir, db.PredictionLog(), never)
	if other.Dir() != dir+".1" {
		t.Errorf("second spool on %s: got folder %s, want %s.1", dir, other.Dir(), dir)
	}
	recs := predlogtest.Records(300, time.Millisecond)
	for i := 0; i < len(recs); i += 100 {
		if err := s.Log(ctx, recs[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	s.abandon()
	segs := segments(t, dir) // one, or two when the first ship sealed one meanwhile
	if len(segs) == 0 {
		t.Fatalf("got no segment, want the spooled records in one")
	}
	// A write cut short by a crash: half a frame, never acknowledged.
	torn := appendFrames(nil, predlogtest.Records(301, time.Millisecond)[300:])
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn[:len(torn)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, _ := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); n != 0 {
		t.Fatalf("before the replay: got %d rows, want 0", n)
	}

	s = mustOpenSpool(t, dir, db.PredictionLog(), never)
	if s.Dir() != dir {
		t.Fatalf("reopened: got folder %s, want %s (free again)", s.Dir(), dir)
	}
	if err := s.Flush(ctx); err != nil { // the replay itself runs at open; Flush waits for it
		t.Fatal(err)
	}
	got := predlogtest.MustRead(t, db, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
	predlogtest.Same(t, got, recs)
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("got segments %v after the replay, want none", segs)
	}
}

// TestSpoolFull: while the next log cannot be written, records wait on
// disk (not in memory) up to MaxBytes, then Log refuses with EUNAVAILABLE;
// readiness (CheckLog) says so; once the log is back, all are shipped.
func TestSpoolFull(t *testing.T) {
	ctx := context.Background()
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	down := &switchLog{next: db.PredictionLog()}
	down.fail.Store(true)
	s := mustOpenSpool(t, filepath.Join(t.TempDir(), "spool"), down,
		SpoolOptions{ShipEvery: 10 * time.Millisecond, ConfirmEvery: 10 * time.Millisecond, MaxBytes: 64 << 10})
	recs := predlogtest.Records(5000, time.Millisecond)
	accepted := 0
	for i := range recs {
		err := s.Log(ctx, recs[i:i+1])
		if err != nil {
			if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
				t.Fatalf("got %v, want %s", err, tripcast.EUNAVAILABLE)
			}
			break
		}
		accepted++
	}
	if accepted == 0 || accepted == len(recs) {
		t.Fatalf("accepted %d of %d records, want some refused at 64 KiB", accepted, len(recs))
	}
	if s.Bytes() > 64<<10 {
		t.Errorf("got %d bytes spooled, want at most %d", s.Bytes(), 64<<10)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.CheckLog() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.CheckLog(); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
		t.Errorf("CheckLog while the log is down: got %v, want %s", err, tripcast.EUNAVAILABLE)
	}
	down.fail.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || n != int64(accepted) {
		t.Errorf("got %d rows (%v), want every accepted record: %d", n, err, accepted)
	}
	if err := s.CheckLog(); err != nil {
		t.Errorf("CheckLog after recovery: got %v, want nil", err)
	}
	if err := s.Log(ctx, recs[accepted:accepted+1]); err != nil {
		t.Errorf("Log after recovery: %v", err)
	}
}

// switchLog is a real log that can be made to fail (an outage), for the
// spool's behaviour while the database is down; the cmd/tripcast test cuts
// a real PostgreSQL connection instead.
type switchLog struct {
	next tripcast.PredictionLog
	fail atomic.Bool
}

var errDown = tripcast.Errorf(tripcast.EUNAVAILABLE, "database down")

func (l *switchLog) Log(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if l.fail.Load() {
		return errDown
	}
	return l.next.Log(ctx, recs)
}

func (l *switchLog) Flush(ctx context.Context) error {
	if l.fail.Load() {
		return errDown
	}
	return l.next.Flush(ctx)
}

// BenchmarkSpoolLog measures the request path: one record per Log call
// from concurrent callers (writes grouped), shipped to the SQLite log in
// the background.
func BenchmarkSpoolLog(b *testing.B) {
	ctx := context.Background()
	db := sqlstoretest.MustOpen(b, sqlstoretest.FreshSQLite(b))
	s, err := OpenSpool(filepath.Join(b.TempDir(), "spool"), Buffered(db.PredictionLog(), Options{FlushInterval: time.Second}), SpoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := predlogtest.Records(1024, time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := s.Log(ctx, recs[i%1024:i%1024+1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
