package stream_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"

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

	client := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(kinesisTestEndpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
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
