package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"tripcast"
)

// Fast batch publishing (nats-server 2.14+, streams created with
// allow_batched): instead of one acknowledgement per message, the server
// confirms the batch every few hundred persisted messages (flow control) and
// answers the last message with one PubAck counting the messages persisted.
// With gap mode "fail" the persisted messages are always a prefix of the
// batch, so a PubAck counting every message confirms all of them, the same
// guarantee as one ack per message, for about a third less CPU per event
// end to end (see BenchmarkEmbeddedPipeline).
//
// The protocol lives in the reply subject of each message:
// <inbox>.<batch id>.<max flow>.fail.<batch seq>.<op>.$FI, op 0 starting the
// batch, 1 appending and 2 committing with the last message. nats.go v1.55
// has no client for it, so it is implemented here from the server's
// documentation (server/stream.go: getFastBatch, BatchFlowAck, BatchFlowGap,
// BatchFlowErr).

// errFastDisabled: the stream refuses fast batches (it was recreated without
// allow_batched); nothing of the batch was stored.
var errFastDisabled = errors.New("stream refuses fast batches")

// fastBatchMinServer is the first nats-server version with fast batches.
const fastBatchMinServer = "2.14.0"

// fastMaxFlow is the most messages we allow the server to persist between
// two flow acknowledgements (the server caps it at 500).
const fastMaxFlow = 500

// Fast batch operations (server FastBatchOpStart, ...Append, ...Commit).
const (
	fastOpStart  = 0
	fastOpAppend = 1
	fastOpCommit = 2
)

// fastResp is any answer the server sends to a fast batch's reply subjects:
// a flow ack {"type":"ack","seq","msgs"}, a gap {"type":"gap","last_seq",
// "seq"}, an error {"type":"err","seq","error"}, or the final PubAck
// {"stream","seq","batch","count"} / {"error"}. A server that does not know
// fast batches answers every message with a plain PubAck (no "batch").
type fastResp struct {
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Msgs    uint16 `json:"msgs"`
	LastSeq uint64 `json:"last_seq"`
	Stream  string `json:"stream"`
	Batch   string `json:"batch"`
	Count   uint64 `json:"count"`
	Error   *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// versionAtLeast reports whether server version v (such as "2.15.2") is at
// least min; unparsable versions are not.
func versionAtLeast(v, min string) bool {
	parse := func(s string) (out [3]int, ok bool) {
		s, _, _ = strings.Cut(s, "-")
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			return out, false
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return out, false
			}
			out[i] = n
		}
		return out, true
	}
	a, ok1 := parse(v)
	b, ok2 := parse(min)
	if !ok1 || !ok2 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

// publishFast publishes msgs (at least 2) as one fast batch and returns nil
// only when the final PubAck counts all of them as persisted.
func (n *NATS) publishFast(ctx context.Context, stream string, msgs []tripcast.Message) error {
	var idb [16]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	prefix := n.nc.NewInbox() + "." + id
	resps := make(chan *nats.Msg, 1024)
	sub, err := n.nc.ChanSubscribe(prefix+".>", resps)
	if err != nil {
		return n.mapErr("publish", stream, err)
	}
	defer sub.Unsubscribe()

	var (
		total   = uint64(len(msgs))
		acked   uint64 // batch sequences confirmed persisted
		window  = uint64(2 * fastMaxFlow)
		plain   uint64 // plain PubAcks, from a server without fast batches
		timeout = time.NewTimer(n.opt.Timeout)
	)
	defer timeout.Stop()
	// handle processes one answer; it reports whether the batch is over.
	handle := func(m *nats.Msg) (bool, error) {
		if m.Header.Get("Status") == "503" {
			return true, n.mapErr("publish", stream, nats.ErrNoResponders)
		}
		var r fastResp
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return true, n.mapErr("publish", stream, fmt.Errorf("bad fast batch answer %q: %w", m.Data, err))
		}
		switch {
		case r.Type == "ack":
			acked = max(acked, r.Seq)
			if r.Msgs > 0 {
				window = 2 * uint64(r.Msgs)
			}
		case r.Type == "gap", r.Type == "err":
			// In gap mode "fail" the batch ends here; the PubAck follows
			// and says how much was persisted.
			n.log.Warn("fast batch interrupted", "stream", stream, "answer", string(m.Data))
		case r.Error != nil:
			err := fmt.Errorf("%s (code %d, err_code %d)", r.Error.Description, r.Error.Code, r.Error.ErrCode)
			switch r.Error.ErrCode {
			case 10059: // stream not found
				err = fmt.Errorf("%w: %w", nats.ErrNoResponders, err)
			case 10205: // batch publish disabled: every message is refused
				return true, fmt.Errorf("%w: %w", errFastDisabled, err)
			}
			return true, n.mapErr("publish", stream, err)
		case r.Batch == "":
			// A plain PubAck per message: the stream does not take fast
			// batches (created elsewhere, or an older server).
			plain++
			acked = plain
			return plain == total, nil
		default:
			if r.Count != total {
				return true, &tripcast.Error{Code: tripcast.EUNAVAILABLE,
					Message: fmt.Sprintf("nats publish on stream %q: only the first %d of %d messages were stored", stream, r.Count, total)}
			}
			return true, nil
		}
		return false, nil
	}
	wait := func() (bool, error) {
		timeout.Reset(n.opt.Timeout)
		select {
		case m := <-resps:
			return handle(m)
		case <-ctx.Done():
			return true, n.mapErr("publish", stream, ctx.Err())
		case <-timeout.C:
			return true, n.mapErr("publish", stream, fmt.Errorf("no answer within %s: %w", n.opt.Timeout, nats.ErrTimeout))
		}
	}

	// The reply subject is built by appending (fmt costs ~3 % of the CPU
	// per event here).
	reply := make([]byte, 0, len(prefix)+64)
	for i := range msgs {
		seq := uint64(i + 1)
		for seq > acked+window { // flow control: let the server catch up
			if done, err := wait(); done {
				if err == nil {
					err = n.mapErr("publish", stream, fmt.Errorf("fast batch ended at %d of %d", acked, total))
				}
				return err
			}
		}
		op := fastOpAppend
		switch {
		case i == len(msgs)-1:
			op = fastOpCommit
		case i == 0:
			op = fastOpStart
		}
		reply = append(reply[:0], prefix...)
		reply = append(reply, "."+strconv.Itoa(fastMaxFlow)+".fail."...)
		reply = strconv.AppendUint(reply, seq, 10)
		reply = append(reply, '.')
		reply = strconv.AppendInt(reply, int64(op), 10)
		reply = append(reply, ".$FI"...)
		m := newMsg(stream, msgs[i].Key, msgs[i].ID, msgs[i].Data)
		m.Reply = string(reply)
		if err := n.nc.PublishMsg(m); err != nil {
			return n.mapErr("publish", stream, err)
		}
		// Take the answers already there without blocking.
		for drained := false; !drained; {
			select {
			case r := <-resps:
				if done, err := handle(r); done {
					if err == nil && seq < total {
						err = n.mapErr("publish", stream, fmt.Errorf("fast batch ended at %d of %d", seq, total))
					}
					return err
				}
			default:
				drained = true
			}
		}
	}
	for {
		if done, err := wait(); done {
			return err
		}
	}
}
