package groundtruth_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/groundtruth"
	"tripcast/internal/testfiles"
	"tripcast/serve"
	"tripcast/sim"
	"tripcast/tlc"
)

func TestDecode(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		drop := time.Date(2021, 1, 1, 0, 28, 26, 0, time.UTC)
		for _, tc := range []struct {
			in   string
			want tripcast.RideCompleted
		}{
			{`{"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}`,
				tripcast.RideCompleted{RideID: "256", RideIDNumeric: true, Duration: 21.7, Dropoff: drop}},
			{`{"ride_id":"2021/01_0","duration":12,"dropoff_datetime":"2021-01-01 00:28:26"}`,
				tripcast.RideCompleted{RideID: "2021/01_0", Duration: 12, Dropoff: drop}},
			{`{"ride_id":2.56e2,"duration":0.5}`, tripcast.RideCompleted{RideID: "256", RideIDNumeric: true, Duration: 0.5}},
			{`{"ride_id":"a","duration":1e1,"dropoff_datetime":null,"extra":[1,{"x":2}]}`, tripcast.RideCompleted{RideID: "a", Duration: 10}},
			{` {"duration":3, "ride_id":"b\u00e9"} `, tripcast.RideCompleted{RideID: "bé", Duration: 3}},
		} {
			got, err := groundtruth.Decode([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Errorf("%s: got %+v, %v, want %+v", tc.in, got, err, tc.want)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, tc := range []struct{ in, field, reason string }{
			{`not json`, "", "invalid JSON"},
			{`[1]`, "", "invalid JSON"},
			{`{"ride_id":1,"duration":5`, "", "invalid JSON"},
			{`{"duration":5}`, "ride_id", "missing"},
			{`{"ride_id":null,"duration":5}`, "ride_id", "missing"},
			{`{"ride_id":"","duration":5}`, "ride_id", "empty"},
			{`{"ride_id":"a\u0000b","duration":5}`, "ride_id", "control"},
			{`{"ride_id":true,"duration":5}`, "ride_id", "a string or a number"},
			{`{"ride_id":"` + strings.Repeat("x", 200) + `","duration":5}`, "ride_id", "at most"},
			{`{"ride_id":1}`, "duration", "missing"},
			{`{"ride_id":1,"duration":null}`, "duration", "missing"},
			{`{"ride_id":1,"duration":0}`, "duration", "more than 0"},
			{`{"ride_id":1,"duration":-3.5}`, "duration", "more than 0"},
			{`{"ride_id":1,"duration":1e400}`, "duration", "out of range"},
			{`{"ride_id":1,"duration":"12"}`, "duration", "must be a number"},
			{`{"ride_id":1,"duration":5,"dropoff_datetime":"yesterday"}`, "dropoff_datetime", "must be a time"},
			{`{"ride_id":1,"duration":5,"dropoff_datetime":17}`, "dropoff_datetime", "time string"},
			{`{"type":"ride_started","ride_id":1,"duration":5}`, "type", "ride_completed"},
			{`{"type":3,"ride_id":1,"duration":5}`, "type", "string"},
		} {
			_, err := groundtruth.Decode([]byte(tc.in))
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != tc.field || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%s: got %v (code %q, field %q), want invalid %q: ...%s...", tc.in, err, tripcast.ErrorCode(err), tripcast.ErrorField(err), tc.field, tc.reason)
			}
		}
	})
}

// TestDecodeSimulated: the simulator's ride events and completions of real
// rides carry the same ride_id, of the same JSON type, and the completion
// holds the trip's real duration and dropoff.
func TestDecodeSimulated(t *testing.T) {
	trips, _, err := tlc.LoadFile(testfiles.Green(t, "2021-02"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, trips.Len() - 1} {
		id := "2021/02_" + strconv.Itoa(i)
		ride, err := serve.DecodeEvent(sim.RideEvent(trips, i, id))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := groundtruth.Decode(sim.CompletedEvent(trips, i, id))
		if err != nil {
			t.Fatal(err)
		}
		if rc.RideID != ride.ID || rc.RideIDNumeric != ride.IDNumeric || rc.Duration != trips.Duration[i] ||
			!rc.Dropoff.Equal(time.UnixMicro(trips.Dropoff[i]).UTC().Truncate(time.Second)) {
			t.Errorf("trip %d: got %+v for ride %+v, want duration %v", i, rc, ride, trips.Duration[i])
		}
	}
}
