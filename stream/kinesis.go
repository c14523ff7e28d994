package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"tripcast"
)

// ShardEnd is the checkpoint stored for a shard that was closed (split or
// merged) and read to its end: its children may then be read.
const ShardEnd = "SHARD_END"

// parseHanded reads a handed mark, "seq/runs" ("seq" alone: one run; ""
// none).
func parseHanded(mark string) (seq string, runs int) {
	if mark == "" {
		return "", 0
	}
	seq, n, ok := strings.Cut(mark, "/")
	if runs, err := strconv.Atoi(n); ok && err == nil && runs > 0 {
		return seq, runs
	}
	return seq, 1
}

// handedSuffix names, after a shard ID, the checkpoint-store entry holding
// the last sequence number a consumer handed to its handler (see
// consumeShard).
const handedSuffix = "#handed"

// Kinesis limits (AWS documentation of PutRecords and GetRecords).
const (
	maxPutRecords      = 500
	maxPutRecordsBytes = 5 << 20
	maxGetRecords      = 10000
)

// Kinesis is a tripcast.Stream on AWS Kinesis Data Streams (or a compatible
// server such as kinesalite). A consumer reads every shard of the stream with
// one goroutine per shard and keeps its position as a per-shard checkpoint in
// a tripcast.CheckpointStore, advanced only after the handler succeeded.
//
// Kinesis has no lease coordination here: run one process per consumer
// name, or two processes will both read every shard.
type Kinesis struct {
	client      *kinesis.Client
	checkpoints tripcast.CheckpointStore
	log         *slog.Logger

	shards   int32         // shard count of streams created by EnsureStream
	batch    int32         // GetRecords limit: the largest handler batch
	poll     time.Duration // wait after an empty GetRecords
	discover time.Duration // shard re-discovery period
}

var (
	_ tripcast.Stream  = (*Kinesis)(nil)
	_ tripcast.Scanner = (*Kinesis)(nil)
)

// kinesisURL is a parsed kinesis:// URL.
type kinesisURL struct {
	region, endpoint string
	shards, batch    int32
	poll, discover   time.Duration
}

// kinesisParams are the query parameters a kinesis:// URL accepts.
var kinesisParams = []string{"region", "endpoint", "shards", "batch", "poll", "discover"}

// CheckKinesisURL reports whether rawURL is a kinesis:// URL OpenKinesis
// accepts, without connecting. Errors are EINVALID on field stream and name
// the offending part, never the whole URL (which may hold secrets).
func CheckKinesisURL(rawURL string) error {
	_, err := parseKinesisURL(rawURL)
	return err
}

// parseKinesisURL parses rawURL, refusing any part it would not use.
func parseKinesisURL(rawURL string) (kinesisURL, error) {
	k := kinesisURL{shards: 1, batch: 1000, poll: time.Second, discover: 30 * time.Second}
	u, err := url.Parse(rawURL)
	if err != nil {
		return k, tripcast.FieldError("stream", "bad Kinesis URL: %v", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "kinesis":
		return k, tripcast.FieldError("stream", "scheme is %q, want kinesis", u.Scheme)
	case u.User != nil:
		return k, tripcast.FieldError("stream", "a kinesis URL takes no user info: credentials come from the AWS chain (AWS_ACCESS_KEY_ID, profile, role)")
	case u.Host != "" || u.Opaque != "" || (u.Path != "" && u.Path != "/"):
		return k, tripcast.FieldError("stream", "a kinesis URL names no stream (the commands name their streams): write kinesis://?region=...")
	case u.Fragment != "":
		return k, tripcast.FieldError("stream", "a kinesis URL takes no #fragment")
	}
	q := u.Query()
	for name := range q {
		if !slices.Contains(kinesisParams, name) {
			return k, tripcast.FieldError("stream", "unknown Kinesis URL parameter %q (known: %s)", name, strings.Join(kinesisParams, ", "))
		}
	}
	for _, p := range []struct {
		name     string
		dst      *int32
		min, max int
	}{{"shards", &k.shards, 1, 10000}, {"batch", &k.batch, 1, maxGetRecords}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < p.min || v > p.max {
				return k, tripcast.FieldError("stream", "URL parameter %s=%q: want an integer in %d..%d", p.name, s, p.min, p.max)
			}
			*p.dst = int32(v)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"poll", &k.poll}, {"discover", &k.discover}} {
		if s := q.Get(p.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return k, tripcast.FieldError("stream", "URL parameter %s=%q: want a positive duration such as 1s", p.name, s)
			}
			*p.dst = d
		}
	}
	k.endpoint = q.Get("endpoint")
	if k.endpoint != "" {
		eu, err := url.Parse(k.endpoint)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return k, tripcast.FieldError("stream", "URL parameter endpoint: want an http:// or https:// URL")
		}
	}
	k.region = q.Get("region")
	return k, nil
}

// OpenKinesis opens Kinesis as described by rawURL:
//
//	kinesis://?region=us-east-1&endpoint=http://127.0.0.1:4567&shards=1&batch=1000&poll=1s&discover=30s
//
// The URL names no stream (a host or path is refused): stream names are
// given to Publish and Consume. Unknown parameters are refused.
// region defaults to AWS_REGION, then AWS_DEFAULT_REGION (then us-east-1
// when an endpoint is given);
// endpoint overrides the AWS endpoint (a local Kinesis-compatible server);
// shards is the shard count of streams EnsureStream creates (default 1);
// batch the most records per handler call (default 1000, at most 10000);
// poll how long a shard reader waits after finding no new record (default
// 1 s; AWS allows 5 GetRecords per second per shard); discover how often the
// shard list is re-read to find new (split or merged) shards (default 30 s).
//
// Credentials come from the standard AWS chain (environment, shared files,
// instance role). With an endpoint and no AWS_ACCESS_KEY_ID in the
// environment, static dummy credentials are used, as local servers accept
// any. checkpoints stores consumer positions (the metadata database).
func OpenKinesis(ctx context.Context, rawURL string, checkpoints tripcast.CheckpointStore, logger *slog.Logger) (*Kinesis, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if checkpoints == nil {
		return nil, tripcast.FieldError("checkpoints", "is nil: the Kinesis consumer needs a checkpoint store")
	}
	ku, err := parseKinesisURL(rawURL)
	if err != nil {
		return nil, err
	}
	k := &Kinesis{checkpoints: checkpoints, shards: ku.shards, batch: ku.batch, poll: ku.poll, discover: ku.discover}
	endpoint, region := ku.endpoint, ku.region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION") // the AWS CLI's and the course's setting
	}
	if region == "" && endpoint != "" {
		region = "us-east-1"
	}
	if region == "" {
		return nil, tripcast.FieldError("stream", "the Kinesis URL has no region (add ?region=us-east-1 or set AWS_REGION or AWS_DEFAULT_REGION)")
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("kinesis: load AWS config: %w", err)
	}
	k.client = kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	k.log = logger.With("component", "stream", "engine", "kinesis")
	k.log.Info("kinesis stream opened", "region", region, "endpoint", endpoint)
	return k, nil
}

// EnsureStream creates stream name with the configured shard count unless it
// exists, and waits until it is ACTIVE.
func (k *Kinesis) EnsureStream(ctx context.Context, name string) error {
	if err := checkName("stream", name); err != nil {
		return err
	}
	_, err := k.client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		_, err = k.client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(k.shards)})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return k.mapErr("create stream", name, err)
		}
		k.log.Info("stream created", "stream", name, "shards", k.shards)
	case err != nil:
		return k.mapErr("describe stream", name, err)
	}
	w := kinesis.NewStreamExistsWaiter(k.client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 5*time.Minute); err != nil {
		return k.mapErr("wait for stream", name, err)
	}
	return nil
}

// DeleteStream deletes stream name (and its registered consumers). ENOTFOUND
// when it does not exist. Not part of tripcast.Stream: for tests and
// administration. Checkpoints are left in the CheckpointStore.
func (k *Kinesis) DeleteStream(ctx context.Context, name string) error {
	if err := checkName("stream", name); err != nil {
		return err
	}
	_, err := k.client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
	if err != nil {
		return k.mapErr("delete stream", name, err)
	}
	return nil
}

// partitionKey returns key, or a random key for an unkeyed message (Kinesis
// requires one; a random one spreads unkeyed messages over the shards).
func partitionKey(key string) string {
	if key != "" {
		return key
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Publish stores one record (PutRecord, partition key = key).
func (k *Kinesis) Publish(ctx context.Context, stream, key string, data []byte) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	_, err := k.client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String(partitionKey(key)), Data: data,
	})
	if err != nil {
		return k.mapErr("publish", stream, err)
	}
	return nil
}

// PublishBatch stores msgs with PutRecords, up to 500 records or 5 MiB per
// call, retrying the records Kinesis rejected (throttling) with backoff until
// ctx is done. Records of one key keep their order unless one of them is
// rejected and retried. Message IDs are ignored (Kinesis has no dedup).
func (k *Kinesis) PublishBatch(ctx context.Context, stream string, msgs []tripcast.Message) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	entries := make([]types.PutRecordsRequestEntry, len(msgs))
	for i := range msgs {
		entries[i] = types.PutRecordsRequestEntry{Data: msgs[i].Data, PartitionKey: aws.String(partitionKey(msgs[i].Key))}
	}
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && end-start < maxPutRecords {
			s := len(entries[end].Data) + len(*entries[end].PartitionKey)
			if end > start && size+s > maxPutRecordsBytes {
				break
			}
			size += s
			end++
		}
		if err := k.putRecords(ctx, stream, entries[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// putRecords sends one PutRecords call and retries its rejected records.
func (k *Kinesis) putRecords(ctx context.Context, stream string, entries []types.PutRecordsRequestEntry) error {
	bo := backoff{min: 50 * time.Millisecond, max: 2 * time.Second}
	for len(entries) > 0 {
		out, err := k.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			return k.mapErr("publish", stream, err)
		}
		if aws.ToInt32(out.FailedRecordCount) == 0 {
			return nil
		}
		var failed []types.PutRecordsRequestEntry
		var reason string
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, entries[i])
				reason = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
			}
		}
		d := bo.next()
		k.log.Warn("records rejected, retrying", "stream", stream, "failed", len(failed), "reason", reason, "backoff", d)
		if !sleep(ctx, d) {
			return k.mapErr("publish", stream, fmt.Errorf("%d records rejected (%s): %w", len(failed), reason, ctx.Err()))
		}
		entries = failed
	}
	return nil
}

// listShards returns every shard of stream, open or closed.
func (k *Kinesis) listShards(ctx context.Context, stream string) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := k.client.ListShards(ctx, in)
		if err != nil {
			return nil, k.mapErr("list shards", stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// Consume reads every shard of stream with one goroutine each, starting
// after the consumer's checkpoint (from the oldest record when there is
// none). A child shard (after a split or merge) is started only once its
// parents are read to their end; the shard list is re-read every discover
// period. Returns nil when ctx is done, once every shard goroutine has
// stopped; an error when the stream disappears or a checkpoint cannot be
// read.
func (k *Kinesis) Consume(ctx context.Context, stream, consumer string, h func(ctx context.Context, batch []tripcast.Message) error) error {
	if err := checkConsume(stream, consumer, h); err != nil {
		return err
	}
	err := k.consume(ctx, stream, consumer, h)
	if err != nil && ctx.Err() != nil {
		return nil // what failed was stopped by ctx: a shutdown
	}
	return err
}

// consume is Consume after its arguments are checked.
func (k *Kinesis) consume(ctx context.Context, stream, consumer string, h func(ctx context.Context, batch []tripcast.Message) error) error {
	shards, err := k.listShards(ctx, stream)
	if err != nil {
		return err
	}
	log := k.log.With("stream", stream, "consumer", consumer)
	log.Info("consuming", "shards", len(shards))
	defer log.Info("consumer stopped")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		shard string
		err   error
	}
	var (
		wg       sync.WaitGroup
		results  = make(chan result)
		running  = map[string]bool{}
		finished = map[string]bool{}
		ticker   = time.NewTicker(k.discover)
	)
	defer ticker.Stop()
	start := func() error {
		listed := make(map[string]bool, len(shards))
		for _, s := range shards {
			listed[aws.ToString(s.ShardId)] = true
		}
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if running[id] || finished[id] {
				continue
			}
			cp, err := k.checkpoints.GetCheckpoint(ctx, consumer, stream, id)
			if err != nil {
				return fmt.Errorf("get checkpoint of %s/%s: %w", stream, id, err)
			}
			if cp == ShardEnd {
				finished[id] = true
				continue
			}
			ready := true
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				// A parent no longer listed has expired: nothing left to read.
				if pid := aws.ToString(p); pid != "" && listed[pid] && !finished[pid] {
					ready = false
				}
			}
			if !ready {
				continue
			}
			running[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := k.consumeShard(ctx, log.With("shard", id), stream, consumer, id, cp, h)
				results <- result{id, err}
			}()
		}
		return nil
	}
	// The loop below keeps receiving results until every goroutine is done.
	defer func() {
		cancel()
		go func() { wg.Wait(); close(results) }()
		for range results {
		}
	}()
	if err := start(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			delete(running, r.shard)
			if r.err != nil {
				if ctx.Err() != nil {
					continue
				}
				return r.err
			}
			if ctx.Err() == nil { // read to its end: children may start
				finished[r.shard] = true
				if err := start(); err != nil {
					return err
				}
			}
		case <-ticker.C:
			s, err := k.listShards(ctx, stream)
			if err != nil {
				if ctx.Err() != nil {
					continue
				}
				if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
					return err
				}
				log.Warn("shard discovery failed", "err", err)
				continue
			}
			shards = s
			if err := start(); err != nil {
				return err
			}
		}
	}
}

// consumeShard reads one shard after checkpoint cp until ctx is done (nil)
// or the shard is closed and read to its end (nil, after storing ShardEnd).
func (k *Kinesis) consumeShard(ctx context.Context, log *slog.Logger, stream, consumer, shard, cp string, h func(context.Context, []tripcast.Message) error) error {
	iterator := func() (string, error) {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard)}
		if cp == "" {
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		} else {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.StartingSequenceNumber = aws.String(cp)
		}
		out, err := k.client.GetShardIterator(ctx, in)
		if err != nil {
			return "", k.mapErr("get shard iterator "+shard, stream, err)
		}
		return aws.ToString(out.ShardIterator), nil
	}
	// The handed mark: the last record a run handed to its handler and how
	// many runs in a row were handed it ("seq/runs"), stored before each
	// batch. The records after the checkpoint up to the mark of the runs
	// before this one may have been handled by each of them (crashes before
	// the checkpoint): they count as delivered runs+1 times, so a batch that
	// crashes every run is dead-lettered after MaxDeliver runs, as on NATS.
	handedKey := shard + handedSuffix
	mark, err := k.checkpoints.GetCheckpoint(ctx, consumer, stream, handedKey)
	if err != nil {
		return fmt.Errorf("get handed mark of %s/%s: %w", stream, shard, err)
	}
	handedBefore, runsBefore := parseHanded(mark)
	handed, runs := handedBefore, runsBefore
	var (
		it        string
		attempts  int    // failed handler calls on the records up to failedTo
		failedTo  string // sequence number of the last record of the failed batch
		failBO    = backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
		handlerBO = backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
		batch     []tripcast.Message
	)
	for ctx.Err() == nil {
		if it == "" {
			if it, err = iterator(); err != nil {
				if tripcast.ErrorCode(err) == tripcast.ENOTFOUND || ctx.Err() != nil {
					return err
				}
				log.Warn("get shard iterator failed, retrying", "err", err)
				sleep(ctx, failBO.next())
				continue
			}
		}
		out, err := k.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(k.batch)})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var expired *types.ExpiredIteratorException
			var nf *types.ResourceNotFoundException
			switch {
			case errors.As(err, &expired):
				it = "" // re-position from the checkpoint
				continue
			case errors.As(err, &nf):
				return k.mapErr("get records "+shard, stream, err)
			}
			// Throttling (ProvisionedThroughputExceeded) and transient
			// failures; the SDK has already retried a few times.
			log.Warn("get records failed, retrying", "err", err)
			sleep(ctx, failBO.next())
			continue
		}
		failBO.reset()
		if len(out.Records) > 0 {
			batch = batch[:0]
			for _, r := range out.Records {
				m := recordMessage(stream, shard, r)
				m.Delivered = 1
				seq := aws.ToString(r.SequenceNumber)
				if failedTo != "" && seqLE(seq, failedTo) {
					m.Delivered = attempts + 1
				}
				if handedBefore != "" && seqLE(seq, handedBefore) {
					m.Delivered = max(m.Delivered, runsBefore+1)
				}
				batch = append(batch, m)
			}
			// This run is handed records of the earlier runs' mark: one run
			// more; only new records: the count starts over.
			wantRuns := 1
			if handedBefore != "" && seqLE(aws.ToString(out.Records[0].SequenceNumber), handedBefore) {
				wantRuns = runsBefore + 1
			}
			last := aws.ToString(out.Records[len(out.Records)-1].SequenceNumber)
			if handed == "" || !seqLE(last, handed) || runs != wantRuns {
				next := last
				if handed != "" && seqLE(last, handed) {
					next = handed
				}
				if err := k.checkpoints.SetCheckpoint(ctx, consumer, stream, handedKey, next+"/"+strconv.Itoa(wantRuns)); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					log.Warn("store handed mark failed, retrying", "err", err)
					sleep(ctx, failBO.next())
					it = "" // read the batch again from the checkpoint
					continue
				}
				handed, runs = next, wantRuns
			}
			if err := h(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				attempts++
				if last := aws.ToString(out.Records[len(out.Records)-1].SequenceNumber); failedTo == "" || !seqLE(last, failedTo) {
					failedTo = last
				}
				d := handlerBO.next()
				log.Warn("handler failed, batch will be redelivered", "err", err, "size", len(batch),
					"first_id", batch[0].ID, "delivered", attempts, "backoff", d)
				sleep(ctx, d)
				it = "" // read the batch again from the checkpoint
				continue
			}
			cp = aws.ToString(out.Records[len(out.Records)-1].SequenceNumber)
			if failedTo != "" && seqLE(failedTo, cp) {
				attempts, failedTo = 0, ""
				handlerBO.reset()
			}
			k.setCheckpoint(ctx, log, consumer, stream, shard, cp)
		}
		if out.NextShardIterator == nil { // closed shard, read to its end
			k.setCheckpoint(ctx, log, consumer, stream, shard, ShardEnd)
			log.Info("shard read to its end")
			return nil
		}
		it = aws.ToString(out.NextShardIterator)
		switch {
		case len(out.Records) == int(k.batch): // more are waiting
		case aws.ToInt64(out.MillisBehindLatest) > 0: // behind, but a short read
			sleep(ctx, min(k.poll, 200*time.Millisecond))
		default: // caught up
			sleep(ctx, k.poll)
		}
	}
	return nil
}

// scanIteratorWait bounds Scan's AT_TIMESTAMP GetShardIterator calls.
// Kinesis answers them at once; kinesalite never answers one on a shard that
// holds no record that recent. After the wait Scan reads the shard from its
// oldest record instead and skips the older records: slower, never wrong.
const scanIteratorWait = 2 * time.Second

// Scan reads the records of stream that arrived at or after since (their
// ApproximateArrivalTimestamp, which Kinesis keeps in milliseconds) up to
// the last one the stream held when Scan began, without a consumer or a
// checkpoint (see tripcast.Scanner). Kinesis orders records per shard only,
// so Scan reads every listed shard (closed parents of a split or merge
// included) one after another, each after its parents, each in sequence
// order: the records of one key come in publish order. A shard is started
// with an AT_TIMESTAMP iterator (TRIM_HORIZON for a zero since) and read
// with GetRecords of up to the batch parameter's count, without pausing
// while records come, until it is read to its end (closed), GetRecords finds
// nothing more (MillisBehindLatest 0), or a record arrived after Scan began.
// That last test compares the server's arrival time with this machine's
// clock: the two are assumed in step. Throttling and expired iterators are
// retried until ctx is done.
func (k *Kinesis) Scan(ctx context.Context, stream string, since time.Time, fn func(tripcast.Message) error) error {
	if err := checkName("stream", stream); err != nil {
		return err
	}
	if fn == nil {
		return tripcast.FieldError("fn", "is nil")
	}
	began := time.Now()
	shards, err := k.listShards(ctx, stream)
	if err != nil {
		return err
	}
	if since.After(began) {
		return nil // no record can be that recent and held already
	}
	for _, s := range parentsFirst(shards) {
		if err := k.scanShard(ctx, stream, aws.ToString(s.ShardId), since, began, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanShard is Scan on one shard. It returns fn's error as is.
func (k *Kinesis) scanShard(ctx context.Context, stream, shard string, since, began time.Time, fn func(tripcast.Message) error) error {
	// Arrival times are milliseconds, and the SDK may decode one a
	// millisecond early: records are skipped (when read from the oldest)
	// only when clearly older than since.
	skipBefore := since.Truncate(time.Millisecond).Add(-time.Millisecond)
	var (
		it, last string // last: the sequence number of the last record read
		retry    = backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	)
	for {
		if err := ctx.Err(); err != nil {
			return k.mapErr("scan shard "+shard, stream, err)
		}
		if it == "" {
			var err error
			if it, err = k.scanIterator(ctx, stream, shard, since, last); err != nil {
				if throttled(err) && sleep(ctx, retry.next()) {
					continue
				}
				return k.mapErr("scan: get shard iterator of "+shard, stream, err)
			}
			if it == "" {
				return nil // nothing that recent in the shard
			}
		}
		out, err := k.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(k.batch)})
		if err != nil {
			var expired *types.ExpiredIteratorException
			switch {
			case errors.As(err, &expired): // fn took minutes: position again after the last record
				it = ""
				continue
			case throttled(err) && sleep(ctx, retry.next()):
				continue
			}
			return k.mapErr("scan: get records of "+shard, stream, err)
		}
		retry.reset()
		for _, r := range out.Records {
			m := recordMessage(stream, shard, r)
			if m.Stored.After(began) {
				return nil // stored after Scan began: the shard is read
			}
			last = aws.ToString(r.SequenceNumber)
			if m.Stored.Before(skipBefore) {
				continue
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		switch {
		case out.NextShardIterator == nil: // closed, and read to its end
			return nil
		case len(out.Records) > 0: // more may follow at once
		case aws.ToInt64(out.MillisBehindLatest) == 0: // caught up
			return nil
		default: // an empty stretch of the shard: a short pause (5 calls/s per shard)
			sleep(ctx, min(k.poll, 200*time.Millisecond))
		}
		it = aws.ToString(out.NextShardIterator)
	}
}

// scanIterator returns Scan's iterator on shard: after sequence number last
// when some record was read already, else at since (or the oldest record for
// a zero since). It returns "" when the server says since is after its
// clock: the shard holds nothing that recent. Errors are the SDK's.
func (k *Kinesis) scanIterator(ctx context.Context, stream, shard string, since time.Time, last string) (string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard)}
	switch {
	case last != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(last)
	case since.UnixMilli() <= 0:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	default:
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(since)
		cctx, cancel := context.WithTimeout(ctx, scanIteratorWait)
		out, err := k.client.GetShardIterator(cctx, in)
		cancel()
		var inv *types.InvalidArgumentException
		switch {
		case err == nil:
			return aws.ToString(out.ShardIterator), nil
		case errors.As(err, &inv) && strings.Contains(inv.ErrorMessage(), "greater than the current"):
			return "", nil
		case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			k.log.Warn("scan: no answer to an AT_TIMESTAMP shard iterator, reading the shard from its oldest record",
				"stream", stream, "shard", shard, "since", since, "wait", scanIteratorWait)
			in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeTrimHorizon, nil
		default:
			return "", err
		}
	}
	out, err := k.client.GetShardIterator(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ShardIterator), nil
}

// throttled reports whether err is Kinesis refusing a call for its rate
// (worth retrying after a pause).
func throttled(err error) bool {
	var (
		limit    *types.LimitExceededException
		throttle *types.ProvisionedThroughputExceededException
	)
	return errors.As(err, &limit) || errors.As(err, &throttle)
}

// parentsFirst returns shards with each shard after its parents that are
// listed too, otherwise in the listed order (Kinesis lists parents first
// already; this does not rely on it).
func parentsFirst(shards []types.Shard) []types.Shard {
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = true
	}
	done := make(map[string]bool, len(shards))
	out := make([]types.Shard, 0, len(shards))
	for added := true; added; {
		added = false
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if done[id] {
				continue
			}
			ready := true
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if pid := aws.ToString(p); pid != "" && pid != id && listed[pid] && !done[pid] {
					ready = false
				}
			}
			if ready {
				done[id], added = true, true
				out = append(out, s)
			}
		}
	}
	for _, s := range shards { // a parent cycle, which Kinesis never lists
		if id := aws.ToString(s.ShardId); !done[id] {
			done[id] = true
			out = append(out, s)
		}
	}
	return out
}

// recordMessage converts a Kinesis record of shard (Delivered 0; ID
// "shardId:sequenceNumber").
func recordMessage(stream, shard string, r types.Record) tripcast.Message {
	return tripcast.Message{
		Stream: stream,
		Key:    aws.ToString(r.PartitionKey),
		Data:   r.Data,
		ID:     shard + ":" + aws.ToString(r.SequenceNumber),
		Stored: aws.ToTime(r.ApproximateArrivalTimestamp),
	}
}

// seqLE reports whether Kinesis sequence number a <= b. They are decimal
// integers of up to 128 digits, without leading zeros.
func seqLE(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a <= b
}

// setCheckpoint stores a shard's position, retrying a few times. The
// handler's work is done, so a canceled ctx does not stop it. If it still
// fails, the batch will be read again after a restart (at least once).
func (k *Kinesis) setCheckpoint(ctx context.Context, log *slog.Logger, consumer, stream, shard, seq string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	bo := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	for {
		err := k.checkpoints.SetCheckpoint(cctx, consumer, stream, shard, seq)
		if err == nil {
			return
		}
		d := bo.next()
		log.Warn("store checkpoint failed, retrying", "err", err, "seq", seq)
		if !sleep(cctx, d) {
			log.Error("checkpoint not stored: the last batches will be delivered again after a restart", "seq", seq)
			return
		}
	}
}

// mapErr turns an AWS error into a tripcast error code.
func (k *Kinesis) mapErr(op, stream string, err error) error {
	var (
		nf       *types.ResourceNotFoundException
		inv      *types.InvalidArgumentException
		limit    *types.LimitExceededException
		throttle *types.ProvisionedThroughputExceededException
		inUse    *types.ResourceInUseException
		api      smithy.APIError
	)
	code := tripcast.EINTERNAL
	switch {
	case errors.As(err, &nf):
		return &tripcast.Error{Code: tripcast.ENOTFOUND, Message: fmt.Sprintf("stream %q not found (create it with EnsureStream)", stream), Err: err}
	case errors.As(err, &inv):
		code = tripcast.EINVALID
	case errors.As(err, &inUse):
		code = tripcast.ECONFLICT
	case errors.As(err, &limit), errors.As(err, &throttle), isCtxErr(err):
		code = tripcast.EUNAVAILABLE
	case errors.As(err, &api):
		// Other answers from the service, such as access denied.
		code = tripcast.EINTERNAL
	default:
		// No answer at all: connection refused, DNS, timeouts.
		code = tripcast.EUNAVAILABLE
	}
	return &tripcast.Error{Code: code, Message: fmt.Sprintf("kinesis %s on stream %q", op, stream), Err: err}
}

// Close releases nothing: the AWS client holds only idle HTTP connections.
func (k *Kinesis) Close() error { return nil }

// Healthy reports whether Kinesis answers (one ListStreams call): nil, or
// an error (EUNAVAILABLE when it cannot be reached). For readiness checks.
func (k *Kinesis) Healthy(ctx context.Context) error {
	if _, err := k.client.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(1)}); err != nil {
		return k.mapErr("list streams", "", err)
	}
	return nil
}
