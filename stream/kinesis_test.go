package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"tripcast"
	"tripcast/internal/testenv"
	"tripcast/stream"
)

// TestKinesisSplit: when a shard is split while a consumer runs, the
// consumer finds the children, reads them only after the parent is read to
// its end (so each key stays in order) and marks the parent ShardEnd.
func TestKinesisSplit(t *testing.T) {
	u, err := url.Parse(kinesisTestEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, "Kinesis (kinesalite)", u.Host)
	cp := newMemCheckpoints()
	raw := "kinesis://?shards=1&batch=16&poll=50ms&discover=200ms&endpoint=" + url.QueryEscape(kinesisTestEndpoint())
	s, err := stream.OpenKinesis(context.Background(), raw, cp, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
	ctx := testCtx(t)
	name := h.newStream("split")

	publish := func(from, to int) {
		var msgs []tripcast.Message
		for i := from; i < to; i++ {
			k := i % 3
			msgs = append(msgs, tripcast.Message{Key: "key" + strconv.Itoa(k), Data: fmt.Appendf(nil, "%d:%d", k, i)})
		}
		if err := s.PublishBatch(ctx, name, msgs); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu    sync.Mutex
		order = map[string][]int{}
		total int
	)
	startConsume(t, s, name, "split", func(_ context.Context, batch []tripcast.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			var k, i int
			fmt.Sscanf(string(m.Data), "%d:%d", &k, &i)
			order[m.Key] = append(order[m.Key], i)
			total++
		}
		return nil
	})
	count := func() int { mu.Lock(); defer mu.Unlock(); return total }

	publish(0, 30)
	waitFor(t, "30 messages before the split", func() bool { return count() >= 30 })

	client := testKinesisClient()
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	parent := aws.ToString(shards.Shards[0].ShardId)
	// Publish more before the split: the parent then holds unread records
	// when the children appear.
	publish(30, 60)
	_, err = client.SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName:         aws.String(name),
		ShardToSplit:       aws.String(parent),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"), // 2^127, the middle
	})
	if err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	if err := s.EnsureStream(ctx, name); err != nil { // waits until ACTIVE again
		t.Fatal(err)
	}
	publish(60, 120)
	waitFor(t, "120 messages across parent and children", func() bool { return count() >= 120 })

	mu.Lock()
	defer mu.Unlock()
	if total != 120 {
		t.Errorf("got %d messages, want 120", total)
	}
	for k, got := range order {
		for j := 1; j < len(got); j++ {
			if got[j] <= got[j-1] {
				t.Errorf("%s: out of order at %d: %v", k, j, got)
				break
			}
		}
	}
	if got, _ := cp.GetCheckpoint(ctx, "split", name, parent); got != stream.ShardEnd {
		t.Errorf("parent checkpoint: got %q, want %q", got, stream.ShardEnd)
	}
}

func TestOpenKinesis(t *testing.T) {
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, raw := range []string{
			"nats://x", "kinesis://?endpoint=http://x&shards=0", "kinesis://?endpoint=http://x&batch=20000",
			"kinesis://?endpoint=http://x&poll=soon", "kinesis://?endpoint=http://x&discover=-1s", "kinesis://%zz",
			// Parts that would be ignored are refused (issue 11.7).
			"kinesis://ride_events?endpoint=http://x", "kinesis:///ride_events?endpoint=http://x",
			"kinesis://u:p@?endpoint=http://x", "kinesis://?endpoint=http://x&regoin=eu-west-1",
			"kinesis://?endpoint=http://x#frag", "kinesis://?endpoint=ftp://x",
		} {
			_, err := stream.OpenKinesis(context.Background(), raw, newMemCheckpoints(), nil)
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "stream" {
				t.Errorf("OpenKinesis(%q): got %v, want %s on field stream", raw, err, tripcast.EINVALID)
			}
		}
		_, err := stream.OpenKinesis(context.Background(), "kinesis://?endpoint=http://x", nil, nil)
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "checkpoints" {
			t.Errorf("nil checkpoints: got %v, want %s on field checkpoints", err, tripcast.EINVALID)
		}
	})
	t.Run("RegionFromAWSDefaultRegion", func(t *testing.T) {
		// The AWS CLI's and the course's setting counts when AWS_REGION is unset.
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		_, err := stream.OpenKinesis(context.Background(), "kinesis://", newMemCheckpoints(), nil)
		if tripcast.ErrorField(err) != "stream" || !strings.Contains(err.Error(), "no region") {
			t.Fatalf("no region anywhere: got %v, want an error on stream saying so", err)
		}
		t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
		s, err := stream.OpenKinesis(context.Background(), "kinesis://", newMemCheckpoints(), nil)
		if err != nil {
			t.Fatalf("AWS_DEFAULT_REGION=eu-west-1: got %v, want the stream opened", err)
		}
		s.Close()
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		s, err := stream.OpenKinesis(context.Background(), "kinesis://?endpoint=http://127.0.0.1:1", newMemCheckpoints(), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Publish(testCtx(t), "ride_events", "k", []byte("x"))
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("Publish with nothing listening: got %v, want %s", err, tripcast.EUNAVAILABLE)
		}
	})
}

// testKinesisClient is a raw Kinesis client on the test server, for what
// the engine does not do (splitting a shard, listing shards).
func testKinesisClient() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(kinesisTestEndpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// openTestKinesis opens the engine on the test server (kinesalite; the
// test is skipped without it, or fails when CI=true), creating streams of
// the given shard count and reading 16 records per GetRecords, so that a
// few hundred records take many calls.
func openTestKinesis(t *testing.T, shards int) *stream.Kinesis {
	t.Helper()
	u, err := url.Parse(kinesisTestEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, "Kinesis (kinesalite)", u.Host)
	raw := fmt.Sprintf("kinesis://?shards=%d&batch=16&poll=50ms&discover=200ms&endpoint=%s", shards, url.QueryEscape(kinesisTestEndpoint()))
	s, err := stream.OpenKinesis(context.Background(), raw, newMemCheckpoints(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scanAll returns the messages Scan hands its callback, failing the test
// when Scan fails.
func scanAll(t *testing.T, ctx context.Context, s tripcast.Scanner, name string, since time.Time) []tripcast.Message {
	t.Helper()
	var got []tripcast.Message
	if err := s.Scan(ctx, name, since, func(m tripcast.Message) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatalf("Scan since %v: %v", since, err)
	}
	return got
}

// shardOf returns the shard part of a Kinesis message ID
// ("shardId-000000000001:4962..."), failing the test on another form.
func shardOf(t *testing.T, m tripcast.Message) string {
	t.Helper()
	shard, seq, ok := strings.Cut(m.ID, ":")
	if !ok || !strings.HasPrefix(shard, "shardId-") || seq == "" {
		t.Fatalf("message %q: got ID %q, want shardId:sequenceNumber", m.Data, m.ID)
	}
	return shard
}

// TestKinesisScan: Scan reads a stream back from a time, shard after
// shard, each in order, with keys, positions and arrival times, up to its
// last record; nothing when the time is past the last record; the
// callback's error stops it; ENOTFOUND for a missing stream.
func TestKinesisScan(t *testing.T) {
	s := openTestKinesis(t, 2)
	h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
	ctx := testCtx(t)
	st := h.newStream("scan")
	const n = 300
	msgs := make([]tripcast.Message, n)
	index := map[string]int{} // data -> i
	for i := range msgs {
		msgs[i] = tripcast.Message{Key: "k" + strconv.Itoa(i%7), Data: rideEvent(i)}
		index[string(rideEvent(i))] = i
	}
	if err := s.PublishBatch(ctx, st, msgs); err != nil {
		t.Fatal(err)
	}

	all := scanAll(t, ctx, s, st, time.Time{})
	if len(all) != n {
		t.Fatalf("Scan from the start: got %d messages, want %d", len(all), n)
	}
	var (
		seen   = map[int]bool{}
		lastOf = map[string]int{} // key -> index of its last message so far
		shards []string           // the shards in the order read, once each
	)
	for _, m := range all {
		i, ok := index[string(m.Data)]
		if !ok || seen[i] {
			t.Fatalf("got message %q: not published, or seen twice", m.Data)
		}
		seen[i] = true
		if m.Key != msgs[i].Key || m.Stream != st || m.Delivered != 0 || m.Stored.IsZero() {
			t.Fatalf("message %d: got %+v, want key %s, stream %s, Delivered 0, a stored time", i, m, msgs[i].Key, st)
		}
		if last, ok := lastOf[m.Key]; ok && i <= last {
			t.Errorf("key %s: message %d after %d, want publish order", m.Key, i, last)
		}
		lastOf[m.Key] = i
		if sh := shardOf(t, m); len(shards) == 0 || shards[len(shards)-1] != sh {
			if slices.Contains(shards, sh) {
				t.Fatalf("shard %s read again after %v: want one shard after another", sh, shards)
			}
			shards = append(shards, sh)
		}
	}
	if len(shards) != 2 {
		t.Fatalf("got messages of shards %v, want both shards (the keys spread over them)", shards)
	}

	// The same IDs and arrival times as a consumer sees.
	c := newCollector()
	cons := startConsume(t, s, st, "scan_check", c.handler)
	waitFor(t, "every message consumed", func() bool { return c.distinct() == n })
	cons.stop(t)
	consumed := map[string]tripcast.Message{}
	for _, m := range c.snapshot() {
		consumed[string(m.Data)] = m
	}
	for _, m := range all {
		if cm := consumed[string(m.Data)]; cm.ID != m.ID || !cm.Stored.Equal(m.Stored) {
			t.Fatalf("message %q: Scan gave ID %s stored %v, Consume gave %s stored %v", m.Data, m.ID, m.Stored, cm.ID, cm.Stored)
		}
	}

	// Later messages, all of one key (so one shard holds nothing that
	// recent), then a scan from a time in between: exactly those.
	time.Sleep(50 * time.Millisecond) // arrival times are milliseconds
	mid := time.Now()
	time.Sleep(50 * time.Millisecond)
	later := make([]tripcast.Message, 10)
	for i := range later {
		later[i] = tripcast.Message{Key: "late", Data: rideEvent(n + i)}
	}
	if err := s.PublishBatch(ctx, st, later); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, ctx, s, st, mid)
	if len(got) != len(later) {
		t.Fatalf("Scan from between the batches: got %d messages, want the last %d", len(got), len(later))
	}
	for i, m := range got {
		if string(m.Data) != string(later[i].Data) || m.Key != "late" {
			t.Errorf("Scan from between the batches: message %d: got %q (key %s), want %q (key late)", i, m.Data, m.Key, later[i].Data)
		}
	}
	if got := scanAll(t, ctx, s, st, time.Now().Add(time.Minute)); len(got) != 0 {
		t.Errorf("Scan from after the last message: got %d messages, want none", len(got))
	}

	stop := errors.New("enough")
	calls := 0
	if err := s.Scan(ctx, st, time.Time{}, func(tripcast.Message) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	}); err != stop || calls != 3 {
		t.Errorf("Scan stopped by its callback: got %v after %d messages, want %v (as is) after 3", err, calls, stop)
	}
	if err := s.Scan(ctx, "missing_"+st, time.Time{}, func(tripcast.Message) error { return nil }); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		t.Errorf("Scan of a missing stream: got %v, want %s", err, tripcast.ENOTFOUND)
	}
	if err := s.Scan(ctx, "bad.name", time.Time{}, func(tripcast.Message) error { return nil }); tripcast.ErrorCode(err) != tripcast.EINVALID {
		t.Errorf("Scan of a bad name: got %v, want %s", err, tripcast.EINVALID)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Scan(canceled, st, time.Time{}, func(tripcast.Message) error { return nil }); err == nil {
		t.Errorf("Scan with a canceled context: got nil, want an error")
	}
}

// TestKinesisScanSplit: after a shard split, Scan reads the closed parent
// to its end, then its children: every record once, each key in publish
// order.
func TestKinesisScanSplit(t *testing.T) {
	s := openTestKinesis(t, 1)
	h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
	ctx := testCtx(t)
	name := h.newStream("scansplit")
	publish := func(from, to int) {
		t.Helper()
		var msgs []tripcast.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, tripcast.Message{Key: "key" + strconv.Itoa(i%5), Data: []byte(strconv.Itoa(i))})
		}
		if err := s.PublishBatch(ctx, name, msgs); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 40)
	client := testKinesisClient()
	listed, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	parent := aws.ToString(listed.Shards[0].ShardId)
	if _, err := client.SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName:         aws.String(name),
		ShardToSplit:       aws.String(parent),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"), // 2^127, the middle
	}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	if err := s.EnsureStream(ctx, name); err != nil { // waits until ACTIVE again
		t.Fatal(err)
	}
	// kinesalite dates a split's children one second ahead: records put to
	// them sooner would arrive "in the future", after Scan began.
	time.Sleep(1100 * time.Millisecond)
	publish(40, 80)

	all := scanAll(t, ctx, s, name, time.Time{})
	if len(all) != 80 {
		t.Fatalf("got %d messages, want 80 (parent and children)", len(all))
	}
	lastOf := map[string]int{}
	children := map[string]bool{}
	for j, m := range all {
		i, err := strconv.Atoi(string(m.Data))
		if err != nil {
			t.Fatalf("message %d: got data %q", j, m.Data)
		}
		if sh := shardOf(t, m); sh == parent {
			if j >= 40 || i >= 40 {
				t.Errorf("message %d (published %d) from the parent: want the parent's 40, first", j, i)
			}
		} else {
			children[sh] = true
			if i < 40 {
				t.Errorf("message %d (published %d, before the split) from child %s", j, i, sh)
			}
		}
		if last, ok := lastOf[m.Key]; ok && i <= last {
			t.Errorf("key %s: message %d after %d, want publish order", m.Key, i, last)
		}
		lastOf[m.Key] = i
	}
	if len(children) == 0 {
		t.Errorf("no message from the children of %s", parent)
	}
}

// TestKinesisHandedAfterCrash: records handed to runs that stopped before
// checkpointing them (crashes) come to the next run, on the same
// checkpoint store, with Delivered counting those runs (2 after one crash,
// 3 after two); the others, and records published since, with Delivered 1.
func TestKinesisHandedAfterCrash(t *testing.T) {
	u, err := url.Parse(kinesisTestEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, "Kinesis (kinesalite)", u.Host)
	cp := newMemCheckpoints()
	open := func() *stream.Kinesis {
		raw := "kinesis://?shards=1&batch=16&poll=50ms&discover=200ms&endpoint=" + url.QueryEscape(kinesisTestEndpoint())
		s, err := stream.OpenKinesis(context.Background(), raw, cp, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := open()
	h := mustOpenHarness(t, func() (tripcast.Stream, error) { return first, nil })
	ctx := testCtx(t)
	name := h.newStream("handed")
	publish := func(s tripcast.Stream, from, to int) {
		var msgs []tripcast.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, tripcast.Message{Key: "k", Data: rideEvent(i)})
		}
		if err := s.PublishBatch(ctx, name, msgs); err != nil {
			t.Fatal(err)
		}
	}
	publish(first, 0, 40)

	// Two runs in a row get the first batch and "crash": the handler stops
	// the run and fails, so the batch is never checkpointed.
	handed := map[string]int{}
	for run, s := range []*stream.Kinesis{first, open()} {
		runCtx, stop := context.WithCancel(ctx)
		n := 0
		err := s.Consume(runCtx, name, "c", func(_ context.Context, batch []tripcast.Message) error {
			for _, m := range batch {
				if m.Delivered != handed[string(m.Data)]+1 {
					t.Errorf("run %d: %s got Delivered %d, want %d", run+1, m.Data, m.Delivered, handed[string(m.Data)]+1)
				}
				handed[string(m.Data)]++
				n++
			}
			stop()
			return errors.New("crash")
		})
		if err != nil || n == 0 || n >= 40 {
			t.Fatalf("run %d: got %v after %d records, want nil after one batch", run+1, err, n)
		}
	}

	// The next run (another process: another Stream on the same
	// checkpoints) gets every record once more.
	last := open()
	c := newCollector()
	startConsume(t, last, name, "c", c.handler)
	waitFor(t, "the 40 records", func() bool { return c.distinct() == 40 })
	publish(last, 40, 45)
	waitFor(t, "the 5 new records", func() bool { return c.distinct() == 45 })
	twice := 0
	for _, m := range c.snapshot() {
		if handed[string(m.Data)] == 2 {
			twice++
		}
		if want := handed[string(m.Data)] + 1; m.Delivered != want {
			t.Errorf("last run: %s got Delivered %d, want %d", m.Data, m.Delivered, want)
		}
	}
	if twice == 0 {
		t.Errorf("no record was handed to both crashed runs, want the first batch's")
	}
}
