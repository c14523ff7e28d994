package tripcast

import "context"

// CheckpointStore keeps a stream consumer's position: the last processed
// sequence number per (consumer, stream, shard). The Kinesis consumer uses it;
// the metadata database implements it.
type CheckpointStore interface {
	// GetCheckpoint returns the last sequence number stored for the shard,
	// or "" (and no error) when none is stored yet.
	GetCheckpoint(ctx context.Context, consumer, stream, shard string) (string, error)
	// SetCheckpoint stores seq as the last processed sequence number of the
	// shard, replacing the previous one.
	SetCheckpoint(ctx context.Context, consumer, stream, shard, seq string) error
}
