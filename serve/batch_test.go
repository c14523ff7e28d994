package serve_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"tripcast"
	"tripcast/serve"
)

// TestDeadLetterEvent: a dead letter keeps a valid JSON event byte for byte
// (spaces included), and any other event as a bounded base64 prefix with
// the whole event's size and sha256, so that it always fits a message.
func TestDeadLetterEvent(t *testing.T) {
	big := `{"ride_id": "` + strings.Repeat("a", tripcast.MaxDeadLetterEvent) + `"}`
	for _, tc := range []struct {
		name, event string
		raw         bool // kept as JSON
	}{
		{"JSON", `{"ride_id":  "x", "ride": {"PULocationID": 0}}`, true},
		{"NotJSON", `not json`, false},
		{"NotUTF8", "{\"ride_id\": \"\xff\"}", false},
		{"TooLarge", big, false},
		{"HugeBytes", strings.Repeat("\xff", 400000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tripcast.DeadLetter{Reason: "missing", Code: tripcast.EINVALID, Source: tripcast.SourceNATS, Stream: "ride_events", StreamID: "7"}
			serve.SetDeadLetterEvent(&d, []byte(tc.event))
			data, err := serve.EncodeDeadLetter(&d)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > tripcast.MaxDeadLetterEvent*4/3+1024 {
				t.Errorf("dead letter is %d bytes, want it bounded", len(data))
			}
			if tc.raw && !bytes.HasSuffix(data, []byte(`,"event":`+tc.event+`}`)) {
				t.Errorf("got %s, want the event byte for byte at the end", data)
			}
			var got tripcast.DeadLetter
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
			sum := sha256.Sum256([]byte(tc.event))
			kept := string(got.Event)
			if !tc.raw {
				kept = string(got.EventBase64)
			}
			n := min(len(tc.event), tripcast.MaxDeadLetterEvent)
			if tc.raw {
				n = len(tc.event)
			}
			if kept != tc.event[:n] || got.EventSize != len(tc.event) || got.EventSHA256 != hex.EncodeToString(sum[:]) ||
				got.EventTruncated != (n < len(tc.event)) || got.StreamID != "7" || got.Reason != "missing" {
				t.Errorf("got %+v (kept %d bytes), want the first %d bytes, size %d and the sha256", got, len(kept), n, len(tc.event))
			}
		})
	}
}
