package serve_test

import (
	"testing"

	"tripcast"
	"tripcast/serve"
)

// TestDecodeRideID: a ride_id decodes alone as it does in a ride event.
func TestDecodeRideID(t *testing.T) {
	for _, raw := range []string{`256`, `"256"`, `2.56e2`, `-7`, `"2021/01_0"`, `"b\u00e9"`, `null`,
		`""`, `true`, `{"a":1}`, `"a\u0000"`, `1e400`, `25 6`, `"` + string(make([]byte, 200)) + `"`} {
		id, numeric, err := serve.DecodeRideID([]byte(raw))
		ride, evErr := serve.DecodeEvent([]byte(`{"ride_id":` + raw + `,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`))
		if (err == nil) != (evErr == nil) || id != ride.ID || numeric != ride.IDNumeric {
			t.Errorf("%s: got %q, %v, %v; in an event %q, %v, %v", raw, id, numeric, err, ride.ID, ride.IDNumeric, evErr)
		}
		if err != nil && (tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "ride_id") {
			t.Errorf("%s: got %v, want an invalid ride_id", raw, err)
		}
	}
}
