package tripcast

import (
	"context"
	"time"
)

// Message is one event on a Stream.
type Message struct {
	// Stream is the name of the stream the message was read from. Ignored by
	// PublishBatch (the stream argument wins).
	Stream string
	// Key groups related messages: messages with the same key are delivered
	// in publish order (Kinesis: the partition key; NATS: a header). Serving
	// keys predictions by ride_id.
	Key string
	// Data is the payload, opaque to the stream.
	Data []byte
	// ID is the message's position in the engine when consumed: the
	// JetStream stream sequence ("42") or Kinesis "shardId:sequenceNumber".
	// When publishing, a non-empty ID is an idempotency key: NATS drops a
	// second message with the same ID within the stream's duplicate window
	// (two minutes); Kinesis ignores it.
	ID string
	// Delivered counts delivery attempts, 1 for the first. A handler that
	// cannot ever succeed with a message decides from it when to give up
	// (dead letter): the engines retry a failing batch forever. On NATS it
	// is the server's count (it survives restarts) plus the in-process
	// retries; on Kinesis the consumer stores, before each batch, the last
	// record it hands to the handler and how many runs in a row were handed
	// it (beside its checkpoint), so a record handed to runs that stopped
	// before checkpointing it counts those runs in the next one, and
	// in-process retries are counted in memory. On both, Delivered == 1
	// means no run before handled the message, and a message that crashes
	// every run reaches any MaxDeliver.
	Delivered int
	// Stored is when the engine stored the message (JetStream's timestamp,
	// Kinesis's approximate arrival time); zero when publishing.
	Stored time.Time
}

// Stream is a durable, ordered-per-key event log with named consumers: NATS
// JetStream (embedded in the process or an external server) or AWS Kinesis.
//
// Delivery is at least once: a message is acknowledged (NATS) or its shard's
// checkpoint advanced (Kinesis) only after the handler returned nil for the
// batch holding it, so a crash or a handler error makes the engine deliver the
// batch again, possibly to another process. Handlers must therefore be
// idempotent (serving dedups by ride_id and model version).
//
// Ordering: messages with the same key are handed to the handler in publish
// order, and a failed batch is redelivered before any later message of its
// keys. Batches of different shards (Kinesis) may be handled concurrently.
//
// Names of streams and consumers are 1 to 64 characters from [A-Za-z0-9_-].
//
// Errors: EINVALID for a bad name, an empty consumer or a nil handler;
// ENOTFOUND when the stream does not exist (call EnsureStream first);
// EUNAVAILABLE when the engine cannot be reached or does not confirm in time;
// EINTERNAL otherwise.
type Stream interface {
	// EnsureStream creates the stream if it does not exist. It is a no-op
	// (nil) when it exists, whatever its settings.
	EnsureStream(ctx context.Context, name string) error

	// Publish appends one message to stream under key. It returns nil only
	// once the engine has stored the message durably (JetStream ack, Kinesis
	// PutRecord answer).
	Publish(ctx context.Context, stream, key string, data []byte) error

	// PublishBatch appends msgs to stream (their Stream field is ignored),
	// pipelined, and returns nil only once every one of them is stored. On
	// error some messages may have been stored: retrying the batch may
	// duplicate them unless they carry an ID (NATS dedup).
	PublishBatch(ctx context.Context, stream string, msgs []Message) error

	// Consume reads stream as the durable consumer named consumer, in
	// batches, until ctx is done, then returns nil. Consumers with different
	// names each see every message. On NATS, processes sharing a consumer
	// name share the work; on Kinesis run one process per consumer name.
	// A restarted consumer resumes after its last acknowledged batch; after
	// a crash (kill -9) the batches of the last moments may come again. A
	// NATS consumer reads ahead; when ctx ends it still hands h the
	// messages already in the process (with a context of its own, bounded
	// by the engine's timeout) and acknowledges them before returning.
	//
	// h gets a batch (never empty; the slice is reused after h returns, so
	// copy what must outlive the call) and a context canceled when Consume
	// stops. When h returns nil the batch is acknowledged; when it returns
	// an error the whole batch is delivered again, after a backoff (100 ms
	// doubling to 5 s), with Delivered incremented. h may be called
	// concurrently for different Kinesis shards, never concurrently for the
	// same key.
	//
	// Consume returns early with an error when the stream does not exist
	// (ENOTFOUND) or the engine fails for good.
	Consume(ctx context.Context, stream, consumer string, h func(ctx context.Context, batch []Message) error) error

	// Close releases the connection (and stops an embedded server the
	// Stream owns). Consume calls must have returned first.
	Close() error
}

// Scanner is a Stream whose messages can be read back by time, without a
// durable consumer: a stream consumer checks its output stream with it
// before publishing a prediction an earlier attempt may have published.
type Scanner interface {
	// Scan calls fn with the messages of stream stored at or after since,
	// in order (Data, Key, ID and Stored set; Delivered 0), up to the last
	// message the stream held when Scan began; it returns fn's first error.
	// A stream holding nothing that recent is scanned at once (nil).
	// ENOTFOUND when the stream does not exist.
	Scan(ctx context.Context, stream string, since time.Time, fn func(Message) error) error
}
