package httpapi

import (
	"crypto/rand"
	"encoding/hex"

	"tripcast/serve"
)

// newRideID returns a generated ride_id: a random (version 4) UUID in its
// canonical text form, 36 lowercase characters such as
// "1b4e28ba-2fa1-41d2-883f-0016d3cca427".
func newRideID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// assignRideIDs gives every predicted ride that came without a ride_id
// (serve.DecodeEvent leaves Ride.ID empty) a generated one, in the ride, its
// prediction (the answer) and its log record alike.
func assignRideIDs(out []serve.Outcome) {
	for i := range out {
		o := &out[i]
		if o.Err != nil || o.Ride.ID != "" {
			continue
		}
		id := newRideID()
		o.Ride.ID, o.Ride.IDNumeric = id, false
		o.Prediction.RideID, o.Prediction.RideIDNumeric = id, false
		o.Record.RideID, o.Record.RideIDNumeric = id, false
	}
}
