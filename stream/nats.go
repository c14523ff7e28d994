package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tripcast"
	"tripcast/internal/secret"
)

// KeyHeader is the NATS message header carrying a message's key. The subject
// of every message is the stream name itself (keys such as ride ids may hold
// characters a subject token cannot).
const KeyHeader = "Tripcast-Key"

// NATSOptions tunes a NATS JetStream Stream. The zero value is usable.
type NATSOptions struct {
	// Logger receives connection events and handler failures.
	Logger *slog.Logger
	// Server, when set, is an embedded server to connect to in-process;
	// OpenNATS's url is then ignored.
	Server *Embedded
	// BatchSize is the largest batch handed to a Consume handler.
	// Default 1000.
	BatchSize int
	// PollWait is how long each of Consume's pull requests lasts (at
	// least 1 s; the client checks the server's heartbeats every half of
	// it). Default 1 s.
	PollWait time.Duration
	// AckWait is how long the server waits for a batch to be acknowledged
	// before delivering it again (a crashed or stuck consumer). It must
	// exceed the slowest handler call. Default 30 s.
	AckWait time.Duration
	// MaxAge is how long EnsureStream's new streams keep messages.
	// Default 7 days; negative keeps them forever.
	MaxAge time.Duration
	// Replicas is the replication factor of new streams on a cluster.
	// Default 1.
	Replicas int
	// Timeout bounds connecting, API requests and acknowledgements when the
	// caller's context has no deadline. Default 10 s.
	Timeout time.Duration
	// PublishWindow is how many asynchronous publishes PublishBatch keeps
	// in flight. Default 4096.
	PublishWindow int
	// NoFastBatch turns off fast batch publishing (nats-server 2.14+):
	// PublishBatch then waits for one acknowledgement per message, and
	// EnsureStream creates streams without allow_batched.
	NoFastBatch bool
}

func (o *NATSOptions) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.PollWait <= 0 {
		o.PollWait = time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAge == 0 {
		o.MaxAge = 7 * 24 * time.Hour
	} else if o.MaxAge < 0 {
		o.MaxAge = 0
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PublishWindow <= 0 {
		o.PublishWindow = 4096
	}
}

// NATS is a tripcast.Stream on NATS JetStream. A stream named S holds the
// subject S (file storage); a message's key travels in the KeyHeader header;
// a consumer is a durable pull consumer with explicit acks and unlimited
// deliveries (the dead-letter decision is the caller's, from
// Message.Delivered). Works with nats-server 2.9 and later.
type NATS struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	opt   NATSOptions
	log   *slog.Logger
	owned *Embedded // stopped by Close when set
	once  sync.Once

	// fastBatch is set when the server supports fast batch publishing;
	// fastStreams caches, per stream name, whether the stream allows it.
	fastBatch   bool
	fastStreams sync.Map // string -> bool

	// ensured holds the names of the streams EnsureStream created or found:
	// those are created again when they disappear (see recreate).
	ensured sync.Map // string -> struct{}
}

var (
	_ tripcast.Stream  = (*NATS)(nil)
	_ tripcast.Scanner = (*NATS)(nil)
)

// OpenNATS connects to the NATS server or cluster at url
// ("nats://host:4222", several separated by commas), or to opts.Server
// in-process, and checks that JetStream is enabled. EUNAVAILABLE when the
// server cannot be reached or has no JetStream.
func OpenNATS(ctx context.Context, url string, opts NATSOptions) (*NATS, error) {
	opts.setDefaults()
	log := opts.Logger.With("component", "stream", "engine", "nats")
	copts := []nats.Option{
		nats.Name("tripcast"),
		nats.Timeout(opts.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", secret.Mask(c.ConnectedUrl())) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("nats async error", "err", err) }),
	}
	where, secrets := secret.Mask(url), secret.Values(url)
	if opts.Server != nil {
		copts = append(copts, opts.Server.inProcess()...)
		url, where = "", "embedded"
	} else if url == "" {
		return nil, tripcast.FieldError("stream", "NATS URL is empty")
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		return nil, &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: fmt.Sprintf("cannot connect to NATS at %s", where), Err: secret.Error(err, secrets)}
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4*opts.PublishWindow),
		jetstream.WithPublishAsyncTimeout(opts.Timeout),
		jetstream.WithDefaultTimeout(opts.Timeout),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	n := &NATS{nc: nc, js: js, opt: opts, log: log,
		fastBatch: !opts.NoFastBatch && versionAtLeast(nc.ConnectedServerVersion(), fastBatchMinServer)}
	actx, cancel := n.timeout(ctx)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		nc.Close()
		return nil, &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: fmt.Sprintf("NATS at %s has no JetStream (start nats-server with -js)", where), Err: secret.Error(err, secrets)}
	}
	log.Info("nats stream opened", "url", where, "server_version", nc.ConnectedServerVersion())
	return n, nil
}

// timeout gives ctx the default timeout when it has no deadline.
func (n *NATS) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.opt.Timeout)
}

// EnsureStream creates stream name (subject name, file storage, the
// configured MaxAge and Replicas, 2-minute duplicate window) unless it exists.
func (n *NATS) EnsureStream(ctx context.Context, name string) error {
	if err := checkName("stream", name); err != nil {
		return err
	}
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	if _, err := n.js.Stream(ctx, name); err == nil {
		n.ensured.Store(name, struct{}{})
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return n.mapErr("ensure stream", name, err)
	}
	_, err := n.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{name},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     n.opt.MaxAge,
		Replicas:   n.opt.Replicas,
		Duplicates: 2 * time.Minute,
		// Fast batch publishing, where the server supports it (2.14+).
		AllowBatchPublish: n.fastBatch,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return n.mapErr("create stream", name, err)
	}
	n.ensured.Store(name, struct{}{})
	n.log.Info("stream created", "stream", name)
	return nil
}

// DeleteStream deletes stream name with its messages and consumers.
// ENOTFOUND when it does not exist. Not part of tripcast.Stream: for tests
// and administration.
func (n *NATS) DeleteStream(ctx context.Context, name string) error {
	if err := checkName("stream", name); err != nil {
		return err
	}
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	n.fastStreams.Delete(name)
	if err := n.js.DeleteStream(ctx, name); err != nil {
		return n.mapErr("delete stream", name, err)
	}
	return nil
}

// Pending returns how many messages of stream the consumer has not yet
// acknowledged (waiting plus in flight): the consumer's lag. ENOTFOUND when
// the stream or the consumer does not exist.
func (n *NATS) Pending(ctx context.Context, stream, consumer string) (uint64, error) {
	if err := checkName("stream", stream); err != nil {
		return 0, err
	}
	if err := checkName("consumer", consumer); err != nil {
		return 0, err
	}
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	c, err := n.js.Consumer(ctx, stream, consumer)
	if err != nil {
		return 0, n.mapErr("consumer info", stream, err)
	}
	info := c.CachedInfo()
	return info.NumPending + uint64(info.NumAckPending), nil
}

// newMsg builds the NATS message for one event.
func newMsg(stream, key, id string, data []byte) *nats.Msg {
	m := &nats.Msg{Subject: stream, Data: data}
	if key != "" || id != "" {
		m.Header = make(nats.Header, 2)
		if key != "" {
			m.Header[KeyHeader] = []string{key}
		}
		if id != "" {
			m.Header[jetstream.MsgIDHeader] = []string{id}
		}
	}
	return m
}

// Publish stores one message and waits for the stream's acknowledgement.
func (n *NATS) Publish(ctx context.Context, stream, key string, data []byte) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	_, err := n.js.PublishMsg(ctx, newMsg(stream, key, "", data))
	if streamMissing(err) && n.recreate(ctx, stream, err) {
		_, err = n.js.PublishMsg(ctx, newMsg(stream, key, "", data))
	}
	if err != nil {
		return n.mapErr("publish", stream, err)
	}
	return nil
}

// recreateDelay is how long recreate waits before creating a stream again.
const recreateDelay = 250 * time.Millisecond

// streamCreated returns when stream was created, or the zero time when it
// does not exist (or the server cannot tell): a stream deleted and created
// again has a new creation time.
func (n *NATS) streamCreated(ctx context.Context, stream string) time.Time {
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	st, err := n.js.Stream(ctx, stream)
	if err != nil {
		return time.Time{}
	}
	return st.CachedInfo().Created
}

// streamMissing reports whether err says the stream does not exist (a
// publish to a subject no stream holds gets no response).
func streamMissing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders)
}

// recreate creates stream again after err said it is missing, when
// EnsureStream had made sure of it before (it was deleted since, by an
// administrator or a client of an open listener): publishing and consuming
// go on instead of failing until a restart. A stream never ensured stays
// missing (ENOTFOUND: a misspelt name does not create a stream). It
// reports whether the stream now exists.
func (n *NATS) recreate(ctx context.Context, stream string, err error) bool {
	n.fastStreams.Delete(stream)
	if _, ok := n.ensured.Load(stream); !ok || ctx.Err() != nil {
		return false
	}
	n.log.Warn("stream missing: creating it again", "stream", stream, "err", err)
	// nats-server removes a deleted stream's files after it has answered
	// the deletion: a stream created at once can lose its new files (seen
	// as "error opening msg block file"). Give it a moment.
	if !sleep(ctx, recreateDelay) {
		return false
	}
	if eerr := n.EnsureStream(ctx, stream); eerr != nil {
		n.log.Error("stream missing and could not be created again", "stream", stream, "err", eerr)
		return false
	}
	return true
}

// streamAllowsFast reports (and caches) whether stream takes fast batches.
func (n *NATS) streamAllowsFast(ctx context.Context, stream string) bool {
	if !n.fastBatch {
		return false
	}
	if v, ok := n.fastStreams.Load(stream); ok {
		return v.(bool)
	}
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	st, err := n.js.Stream(ctx, stream)
	if err != nil {
		return false // the plain path reports the error
	}
	ok := st.CachedInfo().Config.AllowBatchPublish
	n.fastStreams.Store(stream, ok)
	return ok
}

// PublishBatch stores msgs and returns nil once all are confirmed stored.
// On a stream that takes fast batches (created by EnsureStream on
// nats-server 2.14+, e.g. the embedded one) it sends them as one fast batch
// (see fastbatch.go); otherwise it publishes asynchronously, keeping up to
// PublishWindow in flight, and waits for every acknowledgement. A message
// with an ID carries it as Nats-Msg-Id, so a retried batch is not stored
// twice.
func (n *NATS) PublishBatch(ctx context.Context, stream string, msgs []tripcast.Message) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	err := n.publishBatch(ctx, stream, msgs)
	if streamMissing(err) && n.recreate(ctx, stream, err) {
		err = n.publishBatch(ctx, stream, msgs)
	}
	return err
}

// publishBatch is PublishBatch on a stream that is expected to exist.
func (n *NATS) publishBatch(ctx context.Context, stream string, msgs []tripcast.Message) error {
	if len(msgs) > 1 && n.streamAllowsFast(ctx, stream) {
		err := n.publishFast(ctx, stream, msgs)
		if !errors.Is(err, errFastDisabled) {
			return err
		}
		n.fastStreams.Store(stream, false) // stale cache: publish plainly
	}
	// Acks come back about in order: wait for the oldest once the window
	// is full, then for the rest.
	w := n.opt.PublishWindow
	futures := make([]jetstream.PubAckFuture, len(msgs))
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return n.mapErr("publish", stream, err)
		case <-ctx.Done():
			return n.mapErr("publish", stream, ctx.Err())
		}
	}
	for i := range msgs {
		if i >= w {
			if err := wait(futures[i-w]); err != nil {
				return err
			}
		}
		m := &msgs[i]
		f, err := n.js.PublishMsgAsync(newMsg(stream, m.Key, m.ID, m.Data))
		if err != nil {
			return n.mapErr("publish", stream, err)
		}
		futures[i] = f
	}
	for _, f := range futures[max(0, len(futures)-w):] {
		if err := wait(f); err != nil {
			return err
		}
	}
	return nil
}

// Consume runs the durable pull consumer named consumer on stream (created
// or updated with explicit acks, AckWait, unlimited deliveries). The client
// keeps pull requests for up to 2×BatchSize messages open, so the next
// batch arrives while h handles this one. Each request lasts PollWait:
// with the client's default of 30 s, a consumer stalled for 30 s now and
// then under load (the server held no request while the client counted on
// one, until a heartbeat went missing); with 1 s no stall past a fraction
// of a second was seen in 160 runs under load. Each batch is what has
// arrived, up to BatchSize, as soon as there is one message. The batch is
// acknowledged after h returns nil, by a second goroutine while the next
// batch is handled (one batch at a time, the last ack confirmed by the
// server); a crash in between only delivers the batch again. When Consume
// returns, every batch h handled is known to be acknowledged. On error the
// same batch is handed to h again after a backoff (the consumer holds it,
// so it comes before any later message). When ctx ends, Consume stops
// pulling, handles and acknowledges the messages already in the process,
// and sends back (nak) any it could not handle, for the next run.
//
// When the stream disappears (deleted by an administrator or by a client
// of an open listener) after EnsureStream made sure of it, Consume creates
// it and the consumer again and goes on with the new, empty stream. A
// consumer deleted from a stream that still exists is ENOTFOUND.
func (n *NATS) Consume(ctx context.Context, stream, consumer string, h func(ctx context.Context, batch []tripcast.Message) error) error {
	if err := checkConsume(stream, consumer, h); err != nil {
		return err
	}
	retry := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		created := n.streamCreated(ctx, stream)
		err := n.consume(ctx, stream, consumer, h)
		gone := streamMissing(err) || errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)
		if !gone || ctx.Err() != nil {
			return err
		}
		if _, ok := n.ensured.Load(stream); !ok {
			return err
		}
		switch now := n.streamCreated(ctx, stream); {
		case now.IsZero(): // the stream is gone: create it (retried
			// after a backoff when the server refuses, as it may just
			// after a deletion, while it still removes the old files)
			n.recreate(ctx, stream, err)
		case now.Equal(created): // only the consumer was deleted
			return err
		default: // the stream was created again (by a publisher)
			n.log.Warn("stream created again: consuming the new one", "stream", stream, "consumer", consumer)
		}
		if !sleep(ctx, retry.next()) {
			return nil
		}
	}
}

// consume is one run of Consume's consumer; it returns when ctx ends or the
// consumer fails.
func (n *NATS) consume(ctx context.Context, stream, consumer string, h func(ctx context.Context, batch []tripcast.Message) error) error {
	cctx, cancel := n.timeout(ctx)
	cons, err := n.js.CreateOrUpdateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable:       consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       n.opt.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: max(10*n.opt.BatchSize, 1000),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return n.mapErr("create consumer "+consumer, stream, err)
	}
	log := n.log.With("stream", stream, "consumer", consumer)

	// The client's callback hands messages over in order through msgs;
	// once Consume stops it sends them back instead.
	var (
		msgs     = make(chan jetstream.Msg, 2*n.opt.BatchSize)
		stopped  = make(chan struct{})
		fatal    = make(chan error, 1)
		mu       sync.Mutex
		leftover []jetstream.Msg // arrived after the stop
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case <-stopped:
		default:
			select {
			case msgs <- m:
				return
			case <-stopped:
			}
		}
		mu.Lock()
		leftover = append(leftover, m)
		mu.Unlock()
	}, jetstream.PullMaxMessages(2*n.opt.BatchSize), jetstream.PullExpiry(max(n.opt.PollWait, time.Second)), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
			errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, jetstream.ErrBadRequest) {
			select {
			case fatal <- err:
			default:
			}
			return
		}
		// A consumer deleted while no pull was waiting sends no notice:
		// the pulls then get no heartbeat. Ask whether it still exists.
		if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrNoResponders) {
			ictx, cancel := context.WithTimeout(context.Background(), n.opt.Timeout)
			_, cerr := n.js.Consumer(ictx, stream, consumer)
			cancel()
			if errors.Is(cerr, jetstream.ErrConsumerNotFound) || errors.Is(cerr, jetstream.ErrStreamNotFound) {
				select {
				case fatal <- cerr:
				default:
				}
				return
			}
		}
		log.Warn("consumer pull failed; the client asks again", "err", err)
	}))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return n.mapErr("consume", stream, err)
	}
	log.Info("consuming")
	defer log.Info("consumer stopped")

	// The acker acknowledges handled batches in order, one at a time; the
	// two batch buffers go back and forth between it and the loop.
	acks := make(chan []jetstream.Msg, 1)
	free := make(chan []jetstream.Msg, 1)
	free <- make([]jetstream.Msg, 0, n.opt.BatchSize)
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		for raw := range acks {
			n.ackAll(ctx, raw, log)
			free <- raw[:0]
		}
	}()
	var (
		raw   = make([]jetstream.Msg, 0, n.opt.BatchSize)
		batch = make([]tripcast.Message, 0, n.opt.BatchSize)
		retry = backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	)
	// stop ends the pulls. Drain, not Stop: messages already on their way
	// to this process still reach the callback instead of being dropped.
	// With finish, what reached this process is handled and acknowledged
	// (a graceful stop finishes its work in hand: a message the server
	// delivered and got back with a nak would, after a restart of an
	// embedded server, come again only after AckWait); failed messages, and
	// everything in hand when the stop comes from a failure, are sent back.
	stop := func(finish bool, failed []jetstream.Msg) {
		close(stopped)
		cc.Drain()
		select {
		case <-cc.Closed():
		case <-time.After(n.opt.Timeout):
			log.Warn("consumer did not drain; unhandled messages come back after AckWait", "timeout", n.opt.Timeout)
			cc.Stop()
		}
		inHand := failed
		for len(msgs) > 0 {
			inHand = append(inHand, <-msgs)
		}
		mu.Lock()
		inHand = append(inHand, leftover...)
		mu.Unlock()
		if finish && len(inHand) > 0 {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.opt.Timeout)
			defer cancel()
			for len(inHand) > 0 {
				k := min(len(inHand), n.opt.BatchSize)
				raw = append(raw[:0], inHand[:k]...)
				if !n.handle(fctx, log, stream, raw, &batch, &retry, h) {
					break
				}
				inHand = inHand[k:]
				acks <- raw
				raw = <-free
			}
		}
		close(acks)
		<-ackerDone
		n.nakAll(ctx, inHand, log)
	}

	for {
		select {
		case m := <-msgs:
			raw = append(raw[:0], m)
		case <-ctx.Done():
			stop(true, nil)
			return nil
		case err := <-fatal:
			stop(false, nil)
			if ctx.Err() != nil {
				return nil
			}
			return n.mapErr("consume", stream, err)
		case <-cc.Closed():
			stop(false, nil)
			if ctx.Err() != nil {
				return nil
			}
			return n.mapErr("consume", stream, jetstream.ErrConnectionClosed)
		}
	more:
		for len(raw) < n.opt.BatchSize {
			select {
			case m := <-msgs:
				raw = append(raw, m)
			default:
				break more
			}
		}
		if !n.handle(ctx, log, stream, raw, &batch, &retry, h) {
			stop(false, raw) // stopped while retrying: another run gets them
			return nil
		}
		acks <- raw
		raw = <-free
	}
}

// handle calls h on the batch until it returns nil, holding the messages
// (and extending their AckWait) between attempts so that a failed batch is
// retried before any later message; it returns false if ctx is done first.
// Delivered counts the server's deliveries plus the retries here.
func (n *NATS) handle(ctx context.Context, log *slog.Logger, stream string, raw []jetstream.Msg, batch *[]tripcast.Message,
	retry *backoff, h func(context.Context, []tripcast.Message) error) bool {
	for attempt := 0; ; attempt++ {
		b := (*batch)[:0]
		for _, m := range raw {
			msg := toMessage(stream, m)
			msg.Delivered += attempt
			b = append(b, msg)
		}
		*batch = b
		err := h(ctx, b)
		if err == nil {
			retry.reset()
			return true
		}
		d := retry.next()
		log.Warn("handler failed, retrying the batch", "err", err, "size", len(b),
			"first_id", b[0].ID, "delivered", b[0].Delivered, "backoff", d)
		if !sleep(ctx, d) {
			return false
		}
		for _, m := range raw {
			_ = m.InProgress() // restart AckWait; if lost, AckWait redelivers
		}
	}
}

// Scan reads stream from the first message stored at or after since to the
// last one it held when Scan began, with an ordered consumer (ephemeral,
// in memory, no acks) that pulls ahead (see tripcast.Scanner).
func (n *NATS) Scan(ctx context.Context, stream string, since time.Time, fn func(tripcast.Message) error) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	ictx, cancel := n.timeout(ctx)
	st, err := n.js.Stream(ictx, stream)
	cancel()
	if err != nil {
		return n.mapErr("scan", stream, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 || state.LastTime.Before(since) {
		return nil
	}
	last := state.LastSeq
	cctx, cancel := n.timeout(ctx)
	cons, err := st.OrderedConsumer(cctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since, InactiveThreshold: time.Minute})
	cancel()
	if err != nil {
		return n.mapErr("scan", stream, err)
	}
	// Short pull requests, as in Consume: with the client's default 30 s
	// expiry a pull could stall (seen under the race detector).
	it, err := cons.Messages(jetstream.PullMaxMessages(n.opt.BatchSize), jetstream.PullExpiry(max(n.opt.PollWait, time.Second)))
	if err != nil {
		return n.mapErr("scan", stream, err)
	}
	defer it.Stop()
	// Waiting longer than Timeout for the next message fails the scan (a
	// caller retries, and a retried Scan reads up to the stream's new last
	// message, should the old one have expired or been deleted meanwhile):
	// ending it there could miss messages.
	idle := errors.New("no message for the timeout")
	nctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	timer := time.AfterFunc(n.opt.Timeout, func() { stop(idle) })
	defer timer.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(nctx))
		if err != nil {
			if context.Cause(nctx) == idle {
				return &tripcast.Error{Code: tripcast.EUNAVAILABLE,
					Message: fmt.Sprintf("nats scan of stream %q: no message for %v before sequence %d", stream, n.opt.Timeout, last)}
			}
			return n.mapErr("scan", stream, err)
		}
		timer.Reset(n.opt.Timeout)
		msg := toMessage(stream, m)
		msg.Delivered = 0
		if err := fn(msg); err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return n.mapErr("scan", stream, err)
		}
		if md.Sequence.Stream >= last {
			return nil
		}
	}
}

// toMessage converts a JetStream message.
func toMessage(stream string, m jetstream.Msg) tripcast.Message {
	msg := tripcast.Message{Stream: stream, Data: m.Data(), Delivered: 1}
	if h := m.Headers(); h != nil {
		if v := h[KeyHeader]; len(v) > 0 {
			msg.Key = v[0]
		}
	}
	if md, err := m.Metadata(); err == nil {
		msg.ID = strconv.FormatUint(md.Sequence.Stream, 10)
		msg.Delivered = int(md.NumDelivered)
		msg.Stored = md.Timestamp
	}
	return msg
}

// ackAll acknowledges a handled batch: every message but the last with a
// plain ack, the last with a confirmed one (acks of one connection are
// processed in order, so its confirmation covers the batch). A failed
// confirmation is logged: the batch may then come again (at least once).
func (n *NATS) ackAll(ctx context.Context, raw []jetstream.Msg, log *slog.Logger) {
	var failed int
	var ackErr error
	for _, m := range raw[:len(raw)-1] {
		if err := m.Ack(); err != nil {
			failed, ackErr = failed+1, err
		}
	}
	if failed > 0 {
		log.Warn("acks failed, messages may be redelivered", "err", ackErr, "failed", failed, "size", len(raw))
	}
	// The handler's work is done: confirm even if ctx was canceled meanwhile.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.opt.Timeout)
	defer cancel()
	if err := raw[len(raw)-1].DoubleAck(actx); err != nil {
		log.Warn("ack not confirmed, batch may be redelivered", "err", err, "size", len(raw))
	}
}

// nakAll sends messages back for redelivery, in order, the last one
// confirmed by the server (as ackAll), so that a run starting right after
// gets them at once instead of after AckWait.
func (n *NATS) nakAll(ctx context.Context, raw []jetstream.Msg, log *slog.Logger) {
	if len(raw) == 0 {
		return
	}
	for _, m := range raw[:len(raw)-1] {
		_ = m.Nak() // if it is lost, AckWait redelivers
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.opt.Timeout)
	defer cancel()
	if _, err := n.nc.RequestWithContext(actx, raw[len(raw)-1].Reply(), []byte("-NAK")); err != nil {
		log.Warn("nak not confirmed: unhandled messages may come back only after AckWait", "err", err, "size", len(raw))
	}
}

// mapErr turns a NATS error into a tripcast error code.
func (n *NATS) mapErr(op, stream string, err error) error {
	var code string
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrNoResponders):
		return &tripcast.Error{Code: tripcast.ENOTFOUND, Message: fmt.Sprintf("stream %q not found (create it with EnsureStream)", stream), Err: err}
	case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrConsumerDeleted):
		code = tripcast.ENOTFOUND
	case isCtxErr(err), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		code = tripcast.EUNAVAILABLE
	default:
		code = tripcast.EINTERNAL
	}
	return &tripcast.Error{Code: code, Message: fmt.Sprintf("nats %s on stream %q", op, stream), Err: err}
}

// Close closes the connection (flushing pending acks) and stops an embedded
// server opened by OpenEmbedded.
func (n *NATS) Close() error {
	var err error
	n.once.Do(func() {
		if ferr := n.nc.FlushTimeout(n.opt.Timeout); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("nats flush on close: %w", ferr)
		}
		n.nc.Close()
		if n.owned != nil {
			if cerr := n.owned.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	})
	return err
}

// Healthy reports whether the stream can take messages: nil, or an
// EUNAVAILABLE error saying why not. It checks the connection and that
// JetStream answers; on an embedded server it also checks that the stores
// can write, restarting JetStream once the disk takes writes again after a
// failure (see Embedded.Healthy). For readiness checks.
func (n *NATS) Healthy(ctx context.Context) error {
	if e := n.opt.Server; e != nil {
		if err := e.Healthy(); err != nil {
			return err
		}
	}
	if !n.nc.IsConnected() {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "nats: not connected (%v)", n.nc.Status())
	}
	ctx, cancel := n.timeout(ctx)
	defer cancel()
	if _, err := n.js.AccountInfo(ctx); err != nil {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: "nats: JetStream does not answer", Err: err}
	}
	return nil
}

// natsSchemes are the URL schemes a NATS client accepts.
var natsSchemes = []string{"nats", "tls", "ws", "wss"}

// CheckNATSURL reports whether rawURL is one or more comma-separated NATS
// server URLs OpenNATS uses whole: scheme nats, tls, ws or wss, a host,
// optional user:password@ (or token@), and nothing else (no path, query or
// fragment, which the client would ignore). Errors are EINVALID on field
// stream and name the offending part, never the URL itself.
func CheckNATSURL(rawURL string) error {
	for _, part := range strings.Split(rawURL, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		switch {
		case err != nil:
			return tripcast.FieldError("stream", "bad NATS URL: %v", errors.Unwrap(err))
		case !slices.Contains(natsSchemes, u.Scheme):
			return tripcast.FieldError("stream", "NATS URL scheme %q, want one of %s", u.Scheme, strings.Join(natsSchemes, ", "))
		case u.Host == "":
			return tripcast.FieldError("stream", "NATS URL has no host: write nats://host:4222")
		case u.Path != "" && u.Path != "/":
			return tripcast.FieldError("stream", "a NATS URL takes no path (got %q)", u.Path)
		case u.RawQuery != "":
			return tripcast.FieldError("stream", "a NATS URL takes no query parameters (got %s)", strings.Join(slices.Sorted(maps.Keys(u.Query())), ", "))
		case u.Fragment != "":
			return tripcast.FieldError("stream", "a NATS URL takes no #fragment")
		}
	}
	return nil
}
