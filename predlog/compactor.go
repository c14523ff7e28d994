package predlog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tripcast"
)

// CompactLease is the lease name the compactors of processes sharing a
// metadata database take turns with.
const CompactLease = "predlog-compact"

// Defaults of CompactorOptions.
const (
	DefaultCompactEvery    = 10 * time.Minute
	DefaultCompactLookback = 7 * 24 * time.Hour
	DefaultCompactGrace    = 5 * time.Minute
)

// CompactBefore compacts (see Compact) every hour partition that starts at
// or after from and ends at or before before, when it holds more than one
// file. It lists each day of the window once. keep, when set, is asked
// before each hour; when it returns false, CompactBefore stops there (nil
// error). It returns how many hours it compacted and how many files they
// had.
func CompactBefore(ctx context.Context, store tripcast.BlobStore, from, before time.Time, keep func() bool) (hours, files int, err error) {
	from, before = from.UTC().Truncate(time.Hour), before.UTC()
	for day := from.Truncate(24 * time.Hour); day.Before(before); day = day.Add(24 * time.Hour) {
		list, err := store.List(ctx, fmt.Sprintf("%s/date=%s/", Prefix, day.Format(time.DateOnly)))
		if err != nil {
			return hours, files, fmt.Errorf("compact predictions of %s: %w", day.Format(time.DateOnly), err)
		}
		for _, hk := range byHour(list) {
			if hk.hour.Before(from) || hk.hour.Add(time.Hour).After(before) || len(hk.keys) < 2 {
				continue
			}
			if keep != nil && !keep() {
				return hours, files, nil
			}
			n, err := Compact(ctx, store, hk.hour)
			if err != nil {
				return hours, files, err
			}
			if n > 0 {
				hours++
				files += n
			}
		}
	}
	return hours, files, nil
}

// CompactorOptions tune RunCompactor. Zero values take the defaults.
type CompactorOptions struct {
	// Every is the time between two passes. Default DefaultCompactEvery.
	Every time.Duration
	// Lookback is how far back a pass looks for hours to compact. Default
	// DefaultCompactLookback (a process down for days catches up).
	Lookback time.Duration
	// Grace is how long after its end an hour is left alone: writers flush
	// their buffers within seconds (FlushInterval), and a file written
	// during a compaction is merged by the next pass anyway. Default
	// DefaultCompactGrace.
	Grace time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// RunCompactor merges the finished hours' files of the prediction log
// (every writer flush makes one; a day of `tripcast up` makes thousands)
// until ctx ends, and returns nil then: a CompactOnce pass at start and
// then every Every. A failed pass is logged and tried again at the next
// one.
func RunCompactor(ctx context.Context, store tripcast.BlobStore, leaser tripcast.Leaser, holder string, o CompactorOptions) error {
	if err := checkCompactor(store, leaser, holder); err != nil {
		return err
	}
	o.setDefaults()
	log := o.Logger.With("component", "predlog-compactor", "holder", holder)
	t := time.NewTicker(o.Every)
	defer t.Stop()
	for {
		start := time.Now()
		hours, files, _, err := CompactOnce(ctx, store, leaser, holder, o)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prediction log compaction failed", "err", err, "hours", hours, "files", files)
		case hours > 0:
			log.Info("prediction log compacted", "hours", hours, "files", files, "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func checkCompactor(store tripcast.BlobStore, leaser tripcast.Leaser, holder string) error {
	if store == nil || leaser == nil || holder == "" {
		return tripcast.FieldError("compactor", "needs a blob store, a leaser and a holder name")
	}
	return nil
}

func (o *CompactorOptions) setDefaults() {
	if o.Every <= 0 {
		o.Every = DefaultCompactEvery
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultCompactLookback
	}
	if o.Grace <= 0 {
		o.Grace = DefaultCompactGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// CompactOnce is one compaction pass (CompactBefore over the Lookback,
// up to Grace ago) run only while holder holds the lease CompactLease of
// leaser, so that of the processes sharing a metadata database only one
// compacts at a time (Compact does not support concurrent runs on one
// hour). The lease is taken first (held reports whether it was), renewed
// before each hour, and released after the pass.
func CompactOnce(ctx context.Context, store tripcast.BlobStore, leaser tripcast.Leaser, holder string, o CompactorOptions) (hours, files int, held bool, err error) {
	if err := checkCompactor(store, leaser, holder); err != nil {
		return 0, 0, false, err
	}
	o.setDefaults()
	// The lease outlives a pass that renews it before every hour; a
	// process that dies holding it blocks the others for at most ttl.
	ttl := max(2*time.Minute, o.Every/2)
	var leaseErr error
	lost := false
	keep := func() bool {
		ok, err := leaser.TryLease(ctx, CompactLease, holder, ttl)
		if err != nil {
			leaseErr = fmt.Errorf("compaction lease: %w", err)
		}
		lost = !ok
		return ok
	}
	if !keep() {
		return 0, 0, false, leaseErr // another process compacts (or the lease is unavailable)
	}
	defer func() {
		if lost {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := leaser.ReleaseLease(rctx, CompactLease, holder); rerr != nil {
			o.Logger.Warn("compaction lease not released (it expires)", "holder", holder, "err", rerr)
		}
	}()
	now := o.Now()
	hours, files, err = CompactBefore(ctx, store, now.Add(-o.Lookback), now.Add(-o.Grace), keep)
	if err == nil {
		err = leaseErr
	}
	return hours, files, true, err
}
