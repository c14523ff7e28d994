package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"tripcast"
	"tripcast/internal/testfiles/tlcdata"
	"tripcast/serve"
)

func TestDecodeEvent(t *testing.T) {
	pickup := time.Date(2021, 1, 1, 0, 15, 56, 0, time.UTC)
	ok := []struct {
		name, in string
		want     tripcast.Ride
	}{
		{"Nested", `{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`,
			tripcast.Ride{ID: "256", IDNumeric: true, PULocationID: 130, DOLocationID: 205, TripDistance: 3.66}},
		{"NestedPickup", `{"ride_id": "256", "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66, "pickup_datetime": "2021-01-01T00:15:56Z"}}`,
			tripcast.Ride{ID: "256", PULocationID: 130, DOLocationID: 205, TripDistance: 3.66, PickupTime: pickup}},
		{"Flat", `{"ride_id": "abc-1", "PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66, "pickup_datetime": "2021-01-01 00:15:56"}`,
			tripcast.Ride{ID: "abc-1", PULocationID: 130, DOLocationID: 205, TripDistance: 3.66, PickupTime: pickup}},
		{"FlatNoPickup", `{"ride_id":"x","PULocationID":1,"DOLocationID":265,"trip_distance":0}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 265}},
		{"NullPickup", `{"ride_id":"x","PULocationID":1,"DOLocationID":2,"trip_distance":500,"pickup_datetime":null}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 2, TripDistance: 500}},
		{"PickupT", `{"ride_id":"x","PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"2021-01-01T00:15:56"}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 2, TripDistance: 1, PickupTime: pickup}},
		{"PickupOffsetKeepsWallClock", `{"ride_id":"x","PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"2021-01-01T00:15:56-05:00"}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 2, TripDistance: 1, PickupTime: pickup}},
		{"PickupPandasZone", `{"ride_id":"x","PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"2021-01-01 00:15:56+00:00"}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 2, TripDistance: 1, PickupTime: pickup}},
		{"PickupFraction", `{"ride_id":"x","PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"2021-01-01 00:15:56.250"}`,
			tripcast.Ride{ID: "x", PULocationID: 1, DOLocationID: 2, TripDistance: 1, PickupTime: pickup.Add(250 * time.Millisecond)}},
		{"FloatZones", `{"ride_id":1,"PULocationID":130.0,"DOLocationID":2.05e2,"trip_distance":3}`,
			tripcast.Ride{ID: "1", IDNumeric: true, PULocationID: 130, DOLocationID: 205, TripDistance: 3}},
		{"IDExponent", `{"ride_id":2.56e2,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "256", IDNumeric: true, PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"IDFraction", `{"ride_id":-1.5,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "-1.5", IDNumeric: true, PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"IDBigInteger", `{"ride_id":123456789012345678901234567890,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "123456789012345678901234567890", IDNumeric: true, PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"IDEscaped", `{"ride_id":"a\"b\u00e9\/","PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "a\"bé/", PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"EscapedKey", `{"ride\u005fid":"k","PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "k", PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"UnknownKeysIgnored", `{"x":[1,{"y":[null,true,false,"s"]}],"ride_id":"u","ride":{"z":{},"PULocationID":7,"DOLocationID":8,"trip_distance":9,"fare":1e3},"PULocationID":"ignored"}`,
			tripcast.Ride{ID: "u", PULocationID: 7, DOLocationID: 8, TripDistance: 9}},
		{"LastKeyWins", `{"ride_id":"a","ride_id":"b","PULocationID":1,"PULocationID":3,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "b", PULocationID: 3, DOLocationID: 2, TripDistance: 1}},
		{"Whitespace", " \n{ \"ride_id\" : 1 ,\t\"ride\" : { \"PULocationID\" : 1 , \"DOLocationID\" : 2 , \"trip_distance\" : -0 } }\r\n",
			tripcast.Ride{ID: "1", IDNumeric: true, PULocationID: 1, DOLocationID: 2}},
		// ride_id is optional: the adapter assigns one to an empty ID.
		{"IDMissing", `{"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		{"IDNull", `{"ride_id":null,"ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":1}}`,
			tripcast.Ride{PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
		// Zones and distance as numeric strings, as producers in the wild send them.
		{"NumericStrings", `{"ride_id":"s","PULocationID":"254","DOLocationID":"227","trip_distance":"3.66"}`,
			tripcast.Ride{ID: "s", PULocationID: 254, DOLocationID: 227, TripDistance: 3.66}},
		{"NumericStringsNested", `{"ride_id":7,"ride":{"PULocationID":"130.0","DOLocationID":"1","trip_distance":"-0"}}`,
			tripcast.Ride{ID: "7", IDNumeric: true, PULocationID: 130, DOLocationID: 1}},
		{"NumericStringEscaped", `{"ride_id":"s","PULocationID":"\u0032","DOLocationID":"2\u0030","trip_distance":"0.5"}`,
			tripcast.Ride{ID: "s", PULocationID: 2, DOLocationID: 20, TripDistance: 0.5}},
		// The seed's simulator (sim) sends exactly this.
		{"Simulator", `{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`,
			tripcast.Ride{ID: "ride_1796398521264_3190", PULocationID: 254, DOLocationID: 227, TripDistance: 26.93,
				PickupTime: time.Date(2026, 12, 4, 15, 35, 21, 265562000, time.UTC)}},
		{"IDUnicodeNotControl", `{"ride_id":"\u00a0é\u2028","PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
			tripcast.Ride{ID: "\u00a0é\u2028", PULocationID: 1, DOLocationID: 2, TripDistance: 1}},
	}
	for _, tc := range ok {
		t.Run("OK/"+tc.name, func(t *testing.T) {
			got, err := serve.DecodeEvent([]byte(tc.in))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if math.Signbit(got.TripDistance) {
				t.Errorf("got trip_distance -0, want 0")
			}
		})
	}

	bad := []struct {
		name, in, field, msg string
	}{
		{"ErrSyntax", `{"ride_id": 1,`, "", "invalid JSON"},
		{"ErrSyntaxTrailing", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":1} x`, "", "invalid JSON"},
		{"ErrSyntaxTrailingComma", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":1,}`, "", "invalid JSON"},
		{"ErrSyntaxLeadingZero", `{"ride_id":01,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "", "invalid JSON"},
		{"ErrSyntaxControlChar", "{\"ride_id\":\"a\tb\",\"PULocationID\":1,\"DOLocationID\":2,\"trip_distance\":1}", "", "invalid JSON"},
		{"ErrSyntaxBadEscape", `{"ride_id":"a\qb","PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "", "invalid JSON"},
		{"ErrNotObject", `[1,2]`, "", "invalid JSON"},
		{"ErrEmpty", ``, "", "invalid JSON"},
		{"ErrTooDeep", `{"x":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`, "", "nested deeper"},
		{"ErrNaNInUnknownKey", `{"ride_id":1,"fare":NaN,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "", "invalid JSON: NaN is not a JSON value"},
		{"ErrInfinityInIgnoredObject", `{"ride_id":1,"x":{"y":-Infinity},"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "", "invalid JSON: -Infinity"},
		{"ErrNaNInNestedUnknownKey", `{"ride_id":1,"ride":{"fare":NaN,"PULocationID":1,"DOLocationID":2,"trip_distance":1}}`, "", "invalid JSON"},
		{"ErrEmptyID", `{"ride_id":"","PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "must not be empty"},
		{"ErrIDType", `{"ride_id":true,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "must be a string or a number, got a boolean"},
		{"ErrIDObject", `{"ride_id":{},"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "must be a string or a number, got an object"},
		{"ErrIDNUL", `{"ride_id":"a\u0000b","PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "must not contain control characters, got U+0000 at byte 1"},
		{"ErrIDNewline", `{"ride_id":"a\n","PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "control characters, got U+000A"},
		{"ErrIDDEL", "{\"ride_id\":\"a\x7f\",\"PULocationID\":1,\"DOLocationID\":2,\"trip_distance\":1}", "ride_id", "control characters, got U+007F"},
		{"ErrIDC1", `{"ride_id":"\u0085","ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":1}}`, "ride_id", "control characters, got U+0085"},
		{"ErrIDLong", `{"ride_id":"` + string(bytes.Repeat([]byte("x"), 129)) + `","PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride_id", "at most 128 bytes"},
		{"ErrIDBadUTF8", "{\"ride_id\":\"\xff\",\"PULocationID\":1,\"DOLocationID\":2,\"trip_distance\":1}", "ride_id", "UTF-8"},
		{"ErrMissingPU", `{"ride_id":1,"DOLocationID":2,"trip_distance":1}`, "PULocationID", "missing"},
		{"ErrMissingNestedDO", `{"ride_id":1,"ride":{"PULocationID":2,"trip_distance":1}}`, "ride.DOLocationID", "missing"},
		{"ErrMissingDistance", `{"ride_id":1,"PULocationID":1,"DOLocationID":2}`, "trip_distance", "missing"},
		{"ErrFlatFieldsNotUsedWhenNested", `{"ride_id":1,"ride":{},"PULocationID":1,"DOLocationID":2,"trip_distance":1}`, "ride.PULocationID", "missing"},
		{"ErrRideNotObject", `{"ride_id":1,"ride":[1]}`, "ride", "must be an object, got an array"},
		{"ErrWrongType", `{"ride_id":1,"PULocationID":true,"DOLocationID":2,"trip_distance":1}`, "PULocationID", "must be a number, got a boolean"},
		{"ErrNotNumericString", `{"ride_id":1,"PULocationID":"abc","DOLocationID":2,"trip_distance":1}`, "PULocationID", `must be a number or a string holding a plain decimal number such as "12" or "3.5", got string "abc"`},
		{"ErrNumericStringExponent", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"1e400"}`, "trip_distance", `plain decimal number such as "12" or "3.5", got string "1e400"`},
		{"ErrNumericStringSpace", `{"ride_id":1,"ride":{"PULocationID":" 12","DOLocationID":2,"trip_distance":1}}`, "ride.PULocationID", `got string " 12"`},
		{"ErrNumericStringTrailingSpace", `{"ride_id":1,"PULocationID":1,"DOLocationID":"12 ","trip_distance":1}`, "DOLocationID", `got string "12 "`},
		{"ErrNumericStringEmpty", `{"ride_id":1,"PULocationID":1,"DOLocationID":"","trip_distance":1}`, "DOLocationID", `got string ""`},
		{"ErrNumericStringLeadingZero", `{"ride_id":1,"PULocationID":"007","DOLocationID":2,"trip_distance":1}`, "PULocationID", `got string "007"`},
		{"ErrNumericStringPlus", `{"ride_id":1,"PULocationID":"+7","DOLocationID":2,"trip_distance":1}`, "PULocationID", `got string "+7"`},
		{"ErrNumericStringHex", `{"ride_id":1,"PULocationID":"0x10","DOLocationID":2,"trip_distance":1}`, "PULocationID", `got string "0x10"`},
		{"ErrNumericStringDotOnly", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"1."}`, "trip_distance", `got string "1."`},
		{"ErrNumericStringNoInteger", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":".5"}`, "trip_distance", `got string ".5"`},
		{"ErrNumericStringLong", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"` + strings.Repeat("x", 100) + `"}`, "trip_distance", `got string "` + strings.Repeat("x", 37) + `..."`},
		{"ErrStringInfinity", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"Infinity"}`, "trip_distance", `must be a finite number, got string "Infinity"`},
		{"ErrStringMinusInfinity", `{"ride_id":1,"PULocationID":"-Infinity","DOLocationID":2,"trip_distance":1}`, "PULocationID", `must be a finite number, got string "-Infinity"`},
		{"ErrNumericStringZoneRange", `{"ride_id":1,"PULocationID":"266","DOLocationID":2,"trip_distance":1}`, "PULocationID", "between 1 and 265, got 266"},
		{"ErrNumericStringMinusZeroZone", `{"ride_id":1,"PULocationID":"-0","DOLocationID":2,"trip_distance":1}`, "PULocationID", "between 1 and 265, got -0"},
		{"ErrNumericStringZoneFraction", `{"ride_id":1,"PULocationID":"130.5","DOLocationID":2,"trip_distance":1}`, "PULocationID", "must be an integer taxi zone, got 130.5"},
		{"ErrNumericStringNegativeDistance", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"-0.1"}`, "trip_distance", "must be between 0 and 500 miles, got -0.1"},
		{"ErrNumericStringOverflow", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"1` + strings.Repeat("0", 400) + `"}`, "trip_distance", "out of range"},
		{"ErrNullDistance", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":null}`, "trip_distance", "must be a number, got null"},
		{"ErrBareNaN", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":NaN}`, "trip_distance", "must be a finite number, got NaN"},
		{"ErrBareInfinity", `{"ride_id":1,"ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":Infinity}}`, "ride.trip_distance", "must be a finite number, got Infinity"},
		{"ErrBareMinusInfinity", `{"ride_id":1,"PULocationID":-Infinity,"DOLocationID":2,"trip_distance":1}`, "PULocationID", "must be a finite number, got -Infinity"},
		{"ErrStringNaN", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"NaN"}`, "trip_distance", `must be a finite number, got string "NaN"`},
		{"ErrStringInf", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":"inf"}`, "trip_distance", `must be a finite number, got string "inf"`},
		{"ErrOverflow", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":1e999}`, "trip_distance", "out of range"},
		{"ErrNegativeDistance", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":-0.1}`, "trip_distance", "must be between 0 and 500 miles, got -0.1"},
		{"ErrLongDistance", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":500.01}`, "trip_distance", "must be between 0 and 500 miles, got 500.01"},
		{"ErrZoneZero", `{"ride_id":1,"PULocationID":0,"DOLocationID":2,"trip_distance":1}`, "PULocationID", "between 1 and 265, got 0"},
		{"ErrZone266", `{"ride_id":1,"PULocationID":1,"DOLocationID":266,"trip_distance":1}`, "DOLocationID", "between 1 and 265, got 266"},
		{"ErrZoneFraction", `{"ride_id":1,"PULocationID":130.5,"DOLocationID":2,"trip_distance":1}`, "PULocationID", "must be an integer taxi zone, got 130.5"},
		{"ErrPickupFormat", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"01/02/2021 10:00"}`, "pickup_datetime", "must be a time"},
		{"ErrPickupDate", `{"ride_id":1,"PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":"2021-02-30 10:00:00"}`, "pickup_datetime", "must be a time"},
		{"ErrPickupType", `{"ride_id":1,"ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":1,"pickup_datetime":1612137600}}`, "ride.pickup_datetime", "must be a time string, got a number"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r, err := serve.DecodeEvent([]byte(tc.in))
			if err == nil {
				t.Fatalf("got %+v, want an error", r)
			}
			if code := tripcast.ErrorCode(err); code != tripcast.EINVALID {
				t.Errorf("got code %q, want %q (%v)", code, tripcast.EINVALID, err)
			}
			if f := tripcast.ErrorField(err); f != tc.field {
				t.Errorf("got field %q, want %q (%v)", f, tc.field, err)
			}
			if !bytes.Contains([]byte(tripcast.ErrorMessage(err)), []byte(tc.msg)) {
				t.Errorf("got message %q, want it to contain %q", tripcast.ErrorMessage(err), tc.msg)
			}
		})
	}
}

// TestDecodeEventRealRides encodes every ride of a real TLC month in both
// wire formats with encoding/json (as producers do) and decodes it back.
// Rides the validation must refuse (a distance over 500 miles in the raw
// data) are checked to be refused with the right field.
func TestDecodeEventRealRides(t *testing.T) {
	trips := tlcdata.Course(t, "2021-01")
	var refused int
	for i := 0; i < trips.Len(); i++ {
		want := tripcast.Ride{ID: strconv.Itoa(i), PULocationID: int(trips.PULocationID[i]), DOLocationID: int(trips.DOLocationID[i]),
			TripDistance: trips.TripDistance[i], PickupTime: trips.PickupTime(i)}
		feats := map[string]any{"PULocationID": want.PULocationID, "DOLocationID": want.DOLocationID, "trip_distance": want.TripDistance}
		var ev map[string]any
		if i%2 == 0 { // the course's nested format, numeric id, no pickup
			ev = map[string]any{"ride_id": i, "ride": feats}
			want.PickupTime = time.Time{}
			want.IDNumeric = true
		} else { // the seed's flat format, string id, TLC time format
			feats["ride_id"] = want.ID
			feats["pickup_datetime"] = want.PickupTime.Format("2006-01-02 15:04:05")
			if i%4 == 3 { // numeric strings, as the seed's simulator sends zones
				feats["PULocationID"] = strconv.Itoa(want.PULocationID)
				feats["DOLocationID"] = strconv.Itoa(want.DOLocationID)
				feats["trip_distance"] = strconv.FormatFloat(want.TripDistance, 'f', -1, 64)
			}
			ev = feats
		}
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := serve.DecodeEvent(data)
		if want.TripDistance > serve.MaxTripDistance || want.PULocationID < 1 || want.PULocationID > 265 || want.DOLocationID < 1 || want.DOLocationID > 265 {
			refused++
			if err == nil {
				t.Fatalf("ride %d %s: got %+v, want an error", i, data, got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ride %d %s: got error %v", i, data, err)
		}
		if got != want {
			t.Fatalf("ride %d %s: got %+v, want %+v", i, data, got, want)
		}
	}
	t.Logf("%d rides decoded, %d refused", trips.Len()-refused, refused)
}

// TestParseRide reads rides from field texts, as CSV rows hold them: the
// same numeric strings and ranges as DecodeEvent.
func TestParseRide(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		got, err := serve.ParseRide("254", "227", "26.93", "2026-12-04T15:35:21.265562")
		want := tripcast.Ride{PULocationID: 254, DOLocationID: 227, TripDistance: 26.93, PickupTime: time.Date(2026, 12, 4, 15, 35, 21, 265562000, time.UTC)}
		if err != nil || got != want {
			t.Errorf("got %+v, %v, want %+v", got, err, want)
		}
	})
	t.Run("OKNoPickup", func(t *testing.T) {
		got, err := serve.ParseRide("1", "265.0", "0", "")
		if want := (tripcast.Ride{PULocationID: 1, DOLocationID: 265}); err != nil || got != want {
			t.Errorf("got %+v, %v, want %+v", got, err, want)
		}
	})
	for _, tc := range []struct{ name, pu, do, dist, pickup, field, msg string }{
		{"ErrMissing", "1", "", "1", "", "DOLocationID", "missing"},
		{"ErrExponent", "1", "2", "1e2", "", "trip_distance", `got string "1e2"`},
		{"ErrSpace", " 1", "2", "1", "", "PULocationID", `got string " 1"`},
		{"ErrNaN", "1", "2", "NaN", "", "trip_distance", `must be a finite number, got string "NaN"`},
		{"ErrZone", "0", "2", "1", "", "PULocationID", "between 1 and 265, got 0"},
		{"ErrZoneFraction", "1.5", "2", "1", "", "PULocationID", "must be an integer taxi zone"},
		{"ErrDistance", "1", "2", "501", "", "trip_distance", "between 0 and 500 miles"},
		{"ErrPickup", "1", "2", "1", "01/02/2021", "pickup_datetime", "must be a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := serve.ParseRide(tc.pu, tc.do, tc.dist, tc.pickup)
			if err == nil || tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != tc.field ||
				!strings.Contains(tripcast.ErrorMessage(err), tc.msg) {
				t.Errorf("got %+v, %v, want %s error on field %s containing %q", r, err, tripcast.EINVALID, tc.field, tc.msg)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		got, err := serve.SplitArray([]byte(` [ {"a":[1,2]} , 3,"x" ,null] `))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{`{"a":[1,2]}`, `3`, `"x"`, `null`}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		got, err := serve.SplitArray([]byte(`[]`))
		if err != nil || len(got) != 0 {
			t.Errorf("got %q, %v, want none", got, err)
		}
	})
	for name, in := range map[string]string{"ErrObject": `{}`, "ErrUnclosed": `[1,2`, "ErrTrailing": `[1] [2]`, "ErrNaN": `[NaN]`} {
		t.Run(name, func(t *testing.T) {
			if got, err := serve.SplitArray([]byte(in)); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("got %q, %v, want an invalid error", got, err)
			}
		})
	}
}

func TestSplitLines(t *testing.T) {
	got := serve.SplitLines([]byte("{\"a\":1}\r\n\n  \n{\"b\":2}"))
	want := []string{"{\"a\":1}\r", "{\"b\":2}"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// reference decodes an event with encoding/json, the slow obvious way, for
// FuzzDecodeEvent to compare against.
func reference(data []byte) (tripcast.Ride, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || dec.More() {
		return tripcast.Ride{}, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return tripcast.Ride{}, false
	}
	var r tripcast.Ride
	switch id := top["ride_id"].(type) {
	case nil: // absent or null: the adapter assigns one
	case string:
		// encoding/json replaces invalid UTF-8 by U+FFFD: look at the raw text.
		if !utf8.Valid(raw["ride_id"]) || id == "" || len(id) > serve.MaxRideIDLen {
			return r, false
		}
		for _, c := range id {
			if unicode.IsControl(c) {
				return r, false
			}
		}
		r.ID = id
	case json.Number:
		r.IDNumeric = true
		if bytes.ContainsAny([]byte(id), ".eE") {
			x, err := id.Float64()
			if err != nil {
				return r, false
			}
			r.ID = strconv.FormatFloat(x, 'f', -1, 64)
		} else {
			r.ID = string(id)
		}
		if len(r.ID) > serve.MaxRideIDLen {
			return r, false
		}
	default:
		return r, false
	}
	feats := top
	if ride, ok := top["ride"]; ok {
		if feats, ok = ride.(map[string]any); !ok {
			return r, false
		}
	}
	num := func(k string) (float64, bool) {
		var n string
		switch v := feats[k].(type) {
		case json.Number:
			n = string(v)
		case string:
			if !plainDecimalRE.MatchString(v) {
				return 0, false
			}
			n = v
		default:
			return 0, false
		}
		x, err := strconv.ParseFloat(n, 64)
		return x, err == nil
	}
	pu, ok1 := num("PULocationID")
	do, ok2 := num("DOLocationID")
	d, ok3 := num("trip_distance")
	if !ok1 || !ok2 || !ok3 || pu != math.Trunc(pu) || do != math.Trunc(do) || pu < 1 || pu > 265 || do < 1 || do > 265 || d < 0 || d > 500 {
		return r, false
	}
	r.PULocationID, r.DOLocationID, r.TripDistance = int(pu), int(do), d+0
	switch p := feats["pickup_datetime"].(type) {
	case nil:
	case string:
		t, err := serve.ParseTime(p)
		if err != nil {
			return r, false
		}
		r.PickupTime = t
	default:
		return r, false
	}
	return r, true
}

// plainDecimalRE is the numeric string DecodeEvent accepts, for reference.
var plainDecimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// FuzzDecodeEvent checks the hand-written scanner against encoding/json: it
// never accepts what json.Valid refuses, and it decodes exactly what the
// reference decodes.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`,
		`{"ride_id": "a", "PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66, "pickup_datetime": "2021-01-01 00:15:56"}`,
		`{"ride_id": 1e2, "x": [{"y": "\u00e9"}], "PULocationID": 1.0, "DOLocationID": 265, "trip_distance": 0}`,
		`{"ride_id":"\"","ride":{"PULocationID":NaN}}`,
		`{"ride_id":1,"x":NaN,"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
		`{"ride_id":1,"x":[NaN],"y":{"z":Infinity},"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
		`{"PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
		`{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`,
		`{"ride":{"PULocationID":"1.0","DOLocationID":"\u0032","trip_distance":"-0"}}`,
		`{"PULocationID":"007","DOLocationID":"1e2","trip_distance":" 1"}`,
		`{"ride_id":null,"ride":{"PULocationID":1,"DOLocationID":2,"trip_distance":1}}`,
		`{"ride_id":"a\u0000","PULocationID":1,"DOLocationID":2,"trip_distance":1}`,
		"{\"ride_id\":\"\xff\",\"PULocationID\":1,\"DOLocationID\":2,\"trip_distance\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := serve.DecodeEvent(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("%q: got %+v, want an error: not valid JSON", data, got)
		}
		want, ok := reference(data)
		if ok != (err == nil) {
			t.Fatalf("%q: got %+v, %v; reference ok=%v %+v", data, got, err, ok, want)
		}
		if ok && got != want {
			t.Fatalf("%q: got %+v, want %+v", data, got, want)
		}
	})
}

var benchEvents = [][]byte{
	[]byte(`{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`),
	[]byte(`{"ride_id": "8f1c2a", "PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66, "pickup_datetime": "2021-01-01 00:15:56"}`),
}

// simulatorEvent is what the seed's simulator sends: zones as numeric strings.
var simulatorEvent = []byte(`{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`)

func BenchmarkDecodeEvent(b *testing.B) {
	for i, ev := range append(benchEvents[:len(benchEvents):len(benchEvents)], simulatorEvent) {
		b.Run([]string{"Nested", "FlatPickup", "Simulator"}[i], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				if _, err := serve.DecodeEvent(ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDecodeEventStdlib is the encoding/json way DecodeEvent replaces
// (unmarshal into raw fields, then parse them), for comparison.
func BenchmarkDecodeEventStdlib(b *testing.B) {
	type feats struct {
		PU     json.RawMessage `json:"PULocationID"`
		DO     json.RawMessage `json:"DOLocationID"`
		Dist   json.RawMessage `json:"trip_distance"`
		Pickup json.RawMessage `json:"pickup_datetime"`
	}
	type event struct {
		ID   json.RawMessage `json:"ride_id"`
		Ride *feats          `json:"ride"`
		feats
	}
	for i, ev := range benchEvents {
		b.Run([]string{"Nested", "FlatPickup"}[i], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var e event
				if err := json.Unmarshal(ev, &e); err != nil {
					b.Fatal(err)
				}
				f := &e.feats
				if e.Ride != nil {
					f = e.Ride
				}
				var pu, do int
				var d float64
				var p string
				if json.Unmarshal(f.PU, &pu) != nil || json.Unmarshal(f.DO, &do) != nil || json.Unmarshal(f.Dist, &d) != nil {
					b.Fatal("bad")
				}
				if f.Pickup != nil {
					if json.Unmarshal(f.Pickup, &p) != nil {
						b.Fatal("bad")
					}
					if _, err := serve.ParseTime(p); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
