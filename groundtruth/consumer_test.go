package groundtruth_test

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"tripcast"
	"tripcast/groundtruth"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/serve"
	"tripcast/sim"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/train"
)

// mustTrain trains a small real model on green 2021-01, as version.
func mustTrain(t *testing.T, opt train.Options, version string) *model.Artifact {
	t.Helper()
	trips, _, err := tlc.LoadFile(testfiles.Green(t, "2021-01"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Fit(context.Background(), trips, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	res.Artifact.SetIdentity(tripcast.DefaultModelName, version)
	return res.Artifact
}

// TestConsumerEndToEnd: real green 2021-02 rides are predicted by two
// model versions and logged; the simulator sends their ride_completed
// events on embedded NATS; duplicates, completions that arrive before
// their prediction is logged, a completion of an unknown ride and bad
// events are mixed in. Every prediction joins its ride's real duration
// once, the counts add up, and the bad events are dead letters.
func TestConsumerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trips, _, err := tlc.LoadFile(testfiles.Green(t, "2021-02"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	v1 := mustTrain(t, train.Options{Kind: model.Linear}, "1")
	v2 := mustTrain(t, train.Options{Params: map[string]string{"num_boost_round": "5", "max_depth": "4"}}, "2")
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	st, err := stream.OpenEmbedded(ctx, t.TempDir(), "", stream.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{tripcast.RideCompletedStream, tripcast.DeadLetterStream} {
		if err := st.EnsureStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	const n, late = 40, 10 // rides sent by the simulator; rides whose prediction is logged late
	// predict logs the predictions of ride event ev by the models.
	predict := func(ctx context.Context, ev []byte, models ...*model.Artifact) error {
		ride, err := serve.DecodeEvent(ev)
		if err != nil {
			return err
		}
		for _, m := range models {
			p, err := m.Predict(ride)
			if err != nil {
				return err
			}
			now := time.Now()
			rec := tripcast.NewPredictionRecord(ride, tripcast.Prediction{RideID: ride.ID, Model: m.Name(), Version: m.Version(), RideDuration: p},
				now, now, tripcast.SourceNATS)
			if err := db.PredictionLog().Log(ctx, []tripcast.PredictionRecord{rec}); err != nil {
				return err
			}
		}
		return nil
	}

	// The simulator: each ride is predicted by version 1 (the first half
	// by version 2 too) and logged, then its completion follows.
	k := 0
	s, err := sim.New(sim.Config{Trips: trips, Month: "2021-02", MaxEvents: n,
		Target: sim.Func(func(ctx context.Context, ev []byte) error {
			k++
			if k <= n/2 {
				return predict(ctx, ev, v1, v2)
			}
			return predict(ctx, ev, v1)
		}),
		Completed: sim.StreamTarget{Stream: st, Name: tripcast.RideCompletedStream}})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := s.Run(ctx); err != nil || sum.Sent != n || sum.Completed != n {
		t.Fatalf("simulate: got %+v, %v, want %d rides and completions", sum, err, n)
	}
	publish := func(key string, data []byte) {
		t.Helper()
		if err := st.Publish(ctx, tripcast.RideCompletedStream, key, data); err != nil {
			t.Fatal(err)
		}
	}
	id := func(i int) string { return "2021/02_" + strconv.Itoa(i) }
	// Completions of rides n..n+late-1 before their predictions.
	for i := n; i < n+late; i++ {
		publish(id(i), sim.CompletedEvent(trips, i, id(i)))
	}
	for i := range 5 { // duplicates
		publish(id(i), sim.CompletedEvent(trips, i, id(i)))
	}
	publish("nobody", []byte(`{"type":"ride_completed","ride_id":"no-such-ride","duration":7.5}`))
	publish("bad1", []byte(`{"ride_id":"2021/02_1","duration":-1}`))
	publish("bad2", []byte(`{"ride_id":`))

	c, err := groundtruth.New(groundtruth.Config{}, st, db)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	const total = n + late + 5 + 1 + 2
	waitStats(t, c, total)
	// The late predictions arrive now.
	for i := n; i < n+late; i++ {
		if err := predict(ctx, sim.RideEvent(trips, i, id(i)), v1); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	want := groundtruth.Stats{Received: total, Stored: n + late + 1, Duplicates: 5, Unmatched: late + 1, DeadLettered: 2}
	if got := c.Stats(); got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
	// Joined rows: each prediction once, with its ride's real duration.
	rows := map[string]int{}
	err = db.ReadJoined(context.Background(), tripcast.PredictionQuery{From: start, To: time.Now().Add(time.Minute)},
		func(rec *tripcast.PredictionRecord, actual float64) error {
			key := rec.RideID + "@" + rec.Version
			rows[key]++
			i, err := strconv.Atoi(rec.RideID[len("2021/02_"):])
			if err != nil {
				return err
			}
			if actual != trips.Duration[i] {
				t.Errorf("%s: got actual %v, want %v", key, actual, trips.Duration[i])
			}
			m := map[string]*model.Artifact{"1": v1, "2": v2}[rec.Version]
			if p, _ := m.Predict(rec.Ride()); math.Abs(p-rec.Prediction) > 1e-9 {
				t.Errorf("%s: got prediction %v, want %v", key, rec.Prediction, p)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+late+n/2 {
		t.Errorf("got %d joined rows, want %d", len(rows), n+late+n/2)
	}
	for key, c := range rows {
		if c != 1 {
			t.Errorf("%s joined %d times", key, c)
		}
	}
	counts, err := db.CountCompletions(context.Background(), start, time.Now().Add(time.Minute))
	if err != nil || counts != (sqlstore.CompletionCounts{Completions: n + late + 1, Unmatched: 1}) {
		t.Errorf("got %+v, %v, want %d completions, 1 unmatched (the unknown ride)", counts, err, n+late+1)
	}

	// The bad events are dead letters, with their reason.
	var dead []tripcast.DeadLetter
	err = st.Scan(context.Background(), tripcast.DeadLetterStream, start.Add(-time.Minute), func(m tripcast.Message) error {
		var d tripcast.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		dead = append(dead, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead[0].Field != "duration" || dead[0].Stream != tripcast.RideCompletedStream ||
		string(dead[0].Event) != `{"ride_id":"2021/02_1","duration":-1}` || dead[1].Code != tripcast.EINVALID || dead[1].EventSize != 11 {
		t.Errorf("got dead letters %+v", dead)
	}
}

// waitStats waits until c has received n events.
func waitStats(t *testing.T, c *groundtruth.Consumer, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.Stats().Received < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %+v after 20 s, want %d events received", c.Stats(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
