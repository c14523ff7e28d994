package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// GetCheckpoint returns the last sequence number stored for the shard, or
// "" when none is stored yet.
func (db *DB) GetCheckpoint(ctx context.Context, consumer, stream, shard string) (string, error) {
	var seq string
	err := db.plain().queryRow(ctx, `SELECT seq FROM stream_checkpoints WHERE consumer = ? AND stream = ? AND shard = ?`,
		consumer, stream, shard).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("get checkpoint %s/%s/%s: %w", consumer, stream, shard, err)
	}
	return seq, nil
}

// SetCheckpoint stores seq as the last processed sequence number of the
// shard, replacing the previous one.
func (db *DB) SetCheckpoint(ctx context.Context, consumer, stream, shard, seq string) error {
	_, err := db.plain().exec(ctx, `INSERT INTO stream_checkpoints (consumer, stream, shard, seq, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (consumer, stream, shard) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
		consumer, stream, shard, seq, micros(db.now()))
	if err != nil {
		return fmt.Errorf("set checkpoint %s/%s/%s: %w", consumer, stream, shard, err)
	}
	return nil
}
