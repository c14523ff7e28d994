// Package stream implements tripcast.Stream on real engines: NATS JetStream
// (a nats-server embedded in the process, or an external server or cluster)
// and AWS Kinesis. Every engine passes the same conformance suite
// (conformance_test.go).
//
// Engines are opened explicitly (OpenNATS, OpenEmbedded, OpenKinesis); the
// choice by URL scheme lives in cmd/tripcast.
package stream

import (
	"context"
	"errors"
	"math/rand/v2"
	"regexp"
	"time"

	"tripcast"
)

// nameRE is the common subset of JetStream stream and durable consumer names
// (no '.', '*', '>', spaces or path separators) and Kinesis stream names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkName returns an EINVALID error naming field when name is not a valid
// stream or consumer name.
func checkName(field, name string) error {
	if !nameRE.MatchString(name) {
		return tripcast.FieldError(field, "%q is not a valid name: use 1 to 64 characters from A-Z a-z 0-9 _ -", name)
	}
	return nil
}

// checkConsume validates Consume's arguments, shared by the engines.
func checkConsume(stream, consumer string, h func(context.Context, []tripcast.Message) error) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	if err := checkName("consumer", consumer); err != nil {
		return err
	}
	if h == nil {
		return tripcast.FieldError("handler", "is nil")
	}
	return nil
}

// backoff is a capped exponential backoff with jitter, used after handler
// errors and engine failures so a poisoned batch does not spin a core.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay and doubles the following one.
func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	}
	d := b.cur
	b.cur *= 2
	if b.cur > b.max {
		b.cur = b.max
	}
	// +-25 % jitter, so processes sharing a consumer do not retry in step.
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// reset starts over at min after a success.
func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done; it reports whether the full d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isCtxErr reports whether err comes from a canceled or expired context.
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
