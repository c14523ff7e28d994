package monitoring

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"tripcast"
)

// Lease is the lease name the monitoring schedules of processes sharing a
// metadata database take, so one of them reports a window at a time.
const Lease = "monitoring-report"

// Schedule reports the last finished window on a timer, in one of the
// processes sharing the leaser at a time.
type Schedule struct {
	// Window is the report window (default 1h): at each tick the last
	// finished window aligned to it (hours on the hour, days at midnight
	// UTC) is reported, unless its report is already in the blob store.
	Window time.Duration
	// Every is how often to look (default Window/6: a window is reported
	// within that long after it ends).
	Every  time.Duration
	Leaser tripcast.Leaser
	Holder string
	// Runner returns the runner to use now: the champion and its reference
	// are looked up at every tick (the champion may have changed).
	Runner func(ctx context.Context) (*Runner, error)
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger
}

func (s *Schedule) defaults() {
	if s.Window <= 0 {
		s.Window = time.Hour
	}
	if s.Every <= 0 {
		s.Every = s.Window / 6
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run reports at every tick until ctx ends (it returns nil then); a tick's
// error is logged and the next tick tries again.
func (s *Schedule) Run(ctx context.Context) error {
	s.defaults()
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if _, _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("scheduled monitoring report failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once reports the last finished window if this process gets the lease and
// the window has no stored report yet. It returns the report (nil when
// there was nothing to do) and whether the lease was held.
func (s *Schedule) Once(ctx context.Context) (*Document, bool, error) {
	s.defaults()
	ttl := max(2*s.Every, 5*time.Minute)
	held, err := s.Leaser.TryLease(ctx, Lease, s.Holder, ttl)
	if err != nil || !held {
		return nil, false, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.Leaser.ReleaseLease(rctx, Lease, s.Holder); err != nil {
			s.Logger.Warn("monitoring lease not released", "err", err)
		}
	}()
	r, err := s.Runner(ctx)
	if err != nil {
		return nil, true, err
	}
	w := LastWindow(s.Now(), s.Window)
	if r.Store != nil && r.Store.Blobs != nil {
		_, err := r.Store.Blobs.Stat(ctx, ReportPrefix(r.Model, w)+ReportJSON)
		if err == nil {
			return nil, true, nil
		} else if tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			return nil, true, err
		}
	}
	d, err := r.Window(ctx, w)
	if errors.Is(err, context.Canceled) {
		return nil, true, nil
	}
	return d, true, err
}
