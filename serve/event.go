package serve

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"tripcast"
	"tripcast/internal/jsonscan"
)

// Limits of a valid ride event.
const (
	MinZoneID       = 1   // smallest TLC taxi zone
	MaxZoneID       = 265 // largest TLC taxi zone
	MaxTripDistance = 500 // miles
	MaxRideIDLen    = 128 // bytes
	maxDepth        = 64  // JSON nesting of objects and arrays accepted
)

// The event decoder below walks the event with jsonscan's strict scanner
// rather than json.Unmarshal: an event has five interesting keys, and
// scanning them in place (no reflection, no intermediate map, no copies) is
// about 5x faster and allocation-free on the common path
// (BenchmarkDecodeEvent). It accepts exactly the JSON grammar
// (FuzzDecodeEvent checks it against encoding/json), plus Python's bare
// NaN/Infinity literals in a feature's value position, which it only
// recognises to name the offending field instead of answering "invalid
// JSON".

type kind uint8

const (
	kAbsent kind = iota
	kNull
	kBool
	kNumber
	kString
	kObject
	kArray
	kNonFinite // bare NaN, Infinity, -Infinity (not JSON; Python emits them)
)

func (k kind) String() string {
	switch k {
	case kNull:
		return "null"
	case kBool:
		return "a boolean"
	case kNumber:
		return "a number"
	case kString:
		return "a string"
	case kObject:
		return "an object"
	case kArray:
		return "an array"
	case kNonFinite:
		return "a non-finite number"
	}
	return "missing"
}

// value is one scanned JSON value: raw holds the number or literal text, or
// the string's content between the quotes (still escaped when esc); num is
// a number's value.
type value struct {
	kind kind
	esc  bool
	raw  []byte
	num  float64
}

// rideFields are the feature keys of one object (top level or "ride").
type rideFields struct {
	pu, do, dist, pickup value
}

func (f *rideFields) set(key []byte, v value) bool {
	switch string(key) {
	case "PULocationID":
		f.pu = v
	case "DOLocationID":
		f.do = v
	case "trip_distance":
		f.dist = v
	case "pickup_datetime":
		f.pickup = v
	default:
		return false
	}
	return true
}

// newScanner returns a scanner over data with the event's limits.
func newScanner(data []byte) jsonscan.Scanner {
	return jsonscan.Scanner{B: data, MaxDepth: maxDepth}
}

// scanValue scans any value; objects and arrays are validated and skipped
// (a bare NaN in them is an error), a bare NaN or Infinity is kNonFinite.
func scanValue(s *jsonscan.Scanner) (value, error) {
	s.WS()
	start := s.I
	switch c := s.Peek(); {
	case c == '"':
		raw, esc, err := s.String()
		return value{kind: kString, esc: esc, raw: raw}, err
	case c == '{' || c == '[':
		k := kObject
		if c == '[' {
			k = kArray
		}
		err := s.Skip()
		return value{kind: k, raw: s.B[start:s.I]}, err
	case c == 't' && s.Lit("true"), c == 'f' && s.Lit("false"):
		return value{kind: kBool, raw: s.B[start:s.I]}, nil
	case c == 'n' && s.Lit("null"):
		return value{kind: kNull, raw: s.B[start:s.I]}, nil
	case c == 'N' || c == 'I' || c == '-':
		if raw, ok := s.NonFinite(); ok {
			return value{kind: kNonFinite, raw: raw}, nil
		}
		if c != '-' {
			return value{}, s.Err("a value")
		}
		fallthrough
	case '0' <= c && c <= '9':
		raw, x, err := s.Number()
		return value{kind: kNumber, raw: raw, num: x}, err
	}
	return value{}, s.Err("a value")
}

// fields scans an object's values into f; a bare NaN or Infinity is an
// error unless f takes it (only the features name it for what it is).
func fields(s *jsonscan.Scanner, f *rideFields) error {
	return s.Object(func(key []byte) error {
		start := s.I
		v, err := scanValue(s)
		if err != nil {
			return err
		}
		if !f.set(key, v) && v.kind == kNonFinite {
			return jsonscan.NotJSONError(start, v.raw)
		}
		return nil
	})
}

// event is the scanned shape of a ride event, before validation.
type event struct {
	id     value
	ride   value // kind only; the fields go to nested
	flat   rideFields
	nested rideFields
}

// scanEvent scans one event into ev. The top level: ride_id and "ride" are
// special, features go to flat.
func scanEvent(data []byte, ev *event) error {
	s := newScanner(data)
	s.WS()
	if s.Peek() != '{' {
		return s.Err("a JSON object")
	}
	err := s.Object(func(key []byte) error {
		switch string(key) {
		case "ride":
			if s.Peek() == '{' {
				ev.nested = rideFields{} // a repeated key: the last one wins
				ev.ride = value{kind: kObject}
				return fields(&s, &ev.nested)
			}
			v, err := scanValue(&s)
			ev.ride = v // DecodeEvent says it is not an object
			return err
		case "ride_id":
			v, err := scanValue(&s)
			ev.id = v
			return err
		}
		start := s.I
		v, err := scanValue(&s)
		if err != nil {
			return err
		}
		if !ev.flat.set(key, v) && v.kind == kNonFinite {
			return jsonscan.NotJSONError(start, v.raw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.End()
}

// invalid turns a syntax error into an EINVALID error.
func invalid(err error) error {
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return &tripcast.Error{Code: tripcast.EINVALID, Message: se.Error()}
	}
	return err
}

// DecodeEvent decodes and validates one ride event, in either format:
//
//	{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}
//	{"ride_id": "256", "PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66, "pickup_datetime": "2021-01-01 00:15:56"}
//
// When the event has a "ride" key, the features are read from that object
// only (and errors name them "ride.trip_distance"); otherwise from the top
// level. Unknown keys are ignored; for a repeated key the last one wins.
//
// ride_id is optional: absent or null gives an empty Ride.ID, and the
// adapter assigns one (HTTP generates one and returns it; a stream derives it
// from the message's identity). When given it is a string (see ValidRideID)
// or a number (Ride.IDNumeric set; rendered as written when an integer
// literal, else in shortest decimal form without exponent: 2.56e2 is
// "256").
//
// PULocationID and DOLocationID are integral numbers in [MinZoneID,
// MaxZoneID] (130.0 is accepted); trip_distance a number in [0,
// MaxTripDistance] (-0 reads as 0). Each may also be a numeric string, as
// producers in the wild send them ("254", "3.66"): a string holding a plain
// decimal number, -?(0|[1-9][0-9]*)(\.[0-9]+)?, read as that number ("-0"
// too, as the number -0 is). Any other string is refused ("abc", "", " 12",
// "1e400", "007", "+1"), and so are NaN and infinities (bare, as Python
// writes them, or as strings).
//
// pickup_datetime is optional (absent or null): see ParseTime.
//
// Errors are EINVALID; tripcast.ErrorField names the field ("" for a JSON
// syntax error).
func DecodeEvent(data []byte) (tripcast.Ride, error) {
	var ev event
	if err := scanEvent(data, &ev); err != nil {
		return tripcast.Ride{}, invalid(err)
	}
	id, numeric, err := rideID(ev.id)
	if err != nil {
		return tripcast.Ride{}, err
	}
	f, names := &ev.flat, &flatNames
	switch ev.ride.kind {
	case kAbsent:
	case kObject:
		f, names = &ev.nested, &nestedNames
	default:
		return tripcast.Ride{}, tripcast.FieldError("ride", "must be an object, got %s", ev.ride.kind)
	}
	r, err := ride(f, names)
	if err != nil {
		return tripcast.Ride{}, err
	}
	r.ID, r.IDNumeric = id, numeric
	return r, nil
}

// ParseRide reads a ride from the text of its fields, as a row of a CSV file
// holds them: the zones and the distance as DecodeEvent reads numeric strings
// (a plain decimal number, the same ranges), the pickup time as ParseTime
// does. An empty text is a missing field (pickup: unknown). Errors are
// EINVALID naming the field ("PULocationID", ...); Ride.ID is left empty.
func ParseRide(pu, do, dist, pickup string) (tripcast.Ride, error) {
	var f rideFields
	for _, c := range [...]struct {
		v    *value
		text string
	}{{&f.pu, pu}, {&f.do, do}, {&f.dist, dist}, {&f.pickup, pickup}} {
		if c.text != "" {
			*c.v = value{kind: kString, raw: []byte(c.text)}
		}
	}
	return ride(&f, &flatNames)
}

// ride validates the feature fields f, naming them names in errors.
func ride(f *rideFields, names *[4]string) (tripcast.Ride, error) {
	var r tripcast.Ride
	var err error
	if r.PULocationID, err = zone(f.pu, names[0]); err != nil {
		return tripcast.Ride{}, err
	}
	if r.DOLocationID, err = zone(f.do, names[1]); err != nil {
		return tripcast.Ride{}, err
	}
	if r.TripDistance, err = distance(f.dist, names[2]); err != nil {
		return tripcast.Ride{}, err
	}
	if r.PickupTime, err = pickup(f.pickup, names[3]); err != nil {
		return tripcast.Ride{}, err
	}
	return r, nil
}

// Field names in errors, per format (precomputed: no concatenation per event).
var (
	flatNames   = [4]string{"PULocationID", "DOLocationID", "trip_distance", "pickup_datetime"}
	nestedNames = [4]string{"ride.PULocationID", "ride.DOLocationID", "ride.trip_distance", "ride.pickup_datetime"}
)

// rideID reads ride_id: "" when absent or null (the caller assigns one: see
// DecodeEvent), its text and numeric=true for a number.
func rideID(v value) (id string, numeric bool, err error) {
	const field = "ride_id"
	switch v.kind {
	case kAbsent, kNull:
		return "", false, nil
	case kString:
		s := string(v.raw)
		if v.esc {
			var ok bool
			if s, ok = jsonscan.Unescape(v.raw); !ok {
				return "", false, tripcast.FieldError(field, "invalid string escape")
			}
		}
		if err := ValidRideID(s); err != nil {
			return "", false, err
		}
		return s, false, nil
	case kNumber:
		if !bytes.ContainsAny(v.raw, ".eE") {
			if len(v.raw) > MaxRideIDLen {
				return "", false, tripcast.FieldError(field, "must be at most %d bytes, got %d", MaxRideIDLen, len(v.raw))
			}
			return string(v.raw), true, nil // an integer literal, kept exactly
		}
		if math.IsInf(v.num, 0) {
			return "", false, tripcast.FieldError(field, "number %s out of range", v.raw)
		}
		return strconv.FormatFloat(v.num, 'f', -1, 64), true, nil
	}
	return "", false, tripcast.FieldError(field, "must be a string or a number, got %s", v.kind)
}

// DecodeRideID decodes one JSON value as a ride_id, by the rules of
// DecodeEvent: "" for null, the text and numeric=true for a number, the
// string (checked by ValidRideID) otherwise. Other decoders of events that
// carry a ride_id (ground truth) use it so that both read the same id.
// Errors are EINVALID naming the field "ride_id".
func DecodeRideID(raw []byte) (id string, numeric bool, err error) {
	s := newScanner(raw)
	v, err := scanValue(&s)
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return "", false, tripcast.FieldError("ride_id", "%s", tripcast.ErrorMessage(invalid(err)))
	}
	return rideID(v)
}

// ValidRideID checks a ride_id given as a string: not empty, at most
// MaxRideIDLen bytes, valid UTF-8 and free of control characters (a NUL
// cannot be stored by PostgreSQL; the others break logs and keys).
// EINVALID naming the field "ride_id" otherwise.
func ValidRideID(s string) error {
	const field = "ride_id"
	switch {
	case s == "":
		return tripcast.FieldError(field, "must not be empty")
	case len(s) > MaxRideIDLen:
		return tripcast.FieldError(field, "must be at most %d bytes, got %d", MaxRideIDLen, len(s))
	case !utf8.ValidString(s):
		return tripcast.FieldError(field, "must be valid UTF-8")
	}
	for i, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return tripcast.FieldError(field, "must not contain control characters, got %U at byte %d", c, i)
		}
	}
	return nil
}

// number returns v, a number or a numeric string (see DecodeEvent), as a
// finite float64, or a FieldError.
func number(v value, field string) (float64, error) {
	switch v.kind {
	case kAbsent:
		return 0, tripcast.FieldError(field, "missing")
	case kNumber:
	case kString:
		raw := v.raw
		if v.esc { // rare: a digit needs no escape
			s, ok := jsonscan.Unescape(raw)
			if !ok {
				return 0, tripcast.FieldError(field, "invalid string escape")
			}
			raw = []byte(s)
		}
		if !plainDecimal(raw) {
			if x, err := strconv.ParseFloat(string(raw), 64); err == nil && (math.IsNaN(x) || math.IsInf(x, 0)) {
				return 0, tripcast.FieldError(field, "must be a finite number, got string %q", short(raw))
			}
			return 0, tripcast.FieldError(field, "must be a number or a string holding a plain decimal number such as \"12\" or \"3.5\", got string %q", short(raw))
		}
		v.num, _ = strconv.ParseFloat(string(raw), 64) // ±Inf when out of range
	case kNonFinite:
		return 0, tripcast.FieldError(field, "must be a finite number, got %s", v.raw)
	default:
		return 0, tripcast.FieldError(field, "must be a number, got %s", v.kind)
	}
	if math.IsInf(v.num, 0) {
		return 0, tripcast.FieldError(field, "number %s out of range", short(v.raw))
	}
	return v.num, nil
}

// plainDecimal reports whether b is a JSON number without exponent:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?. That is the one unambiguous way to write a
// number in a string: no sign "+", no leading zero (octal to some readers),
// no spaces, no exponent, no NaN or Infinity.
func plainDecimal(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	start := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if n := i - start; n == 0 || n > 1 && b[start] == '0' {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == frac {
			return false
		}
	}
	return i == len(b)
}

// short returns b cut to 40 bytes for an error message.
func short(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:37:37], "..."...)
	}
	return b
}

func zone(v value, field string) (int, error) {
	x, err := number(v, field)
	if err != nil {
		return 0, err
	}
	if x != math.Trunc(x) {
		return 0, tripcast.FieldError(field, "must be an integer taxi zone, got %s", v.raw)
	}
	if x < MinZoneID || x > MaxZoneID {
		return 0, tripcast.FieldError(field, "must be a taxi zone between %d and %d, got %s", MinZoneID, MaxZoneID, v.raw)
	}
	return int(x), nil
}

func distance(v value, field string) (float64, error) {
	x, err := number(v, field)
	if err != nil {
		return 0, err
	}
	if x < 0 || x > MaxTripDistance {
		return 0, tripcast.FieldError(field, "must be between 0 and %d miles, got %s", MaxTripDistance, v.raw)
	}
	return x + 0, nil // +0 turns -0 into 0
}

// Time layouts accepted for pickup_datetime, without a zone; the RFC 3339
// form (with a zone) is tried first when the text ends with one.
const (
	layoutSpace = "2006-01-02 15:04:05"
	layoutT     = "2006-01-02T15:04:05"
)

func pickup(v value, field string) (time.Time, error) {
	switch v.kind {
	case kAbsent, kNull:
		return time.Time{}, nil
	case kString:
	default:
		return time.Time{}, tripcast.FieldError(field, "must be a time string, got %s", v.kind)
	}
	s := string(v.raw)
	if v.esc {
		var ok bool
		if s, ok = jsonscan.Unescape(v.raw); !ok {
			return time.Time{}, tripcast.FieldError(field, "invalid string escape")
		}
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, tripcast.FieldError(field, "%v", err)
	}
	return t, nil
}

// ParseTime parses a pickup time as the event decoder does: RFC 3339, or
// "2006-01-02 15:04:05" / "2006-01-02T15:04:05" with an optional fraction of
// a second ("2026-12-04T15:35:21.265562", as Python's isoformat writes).
//
// A time without a zone is a New York wall clock, as the TLC records are:
// it is kept as written, in a UTC time.Time holding that wall clock (the
// convention of tripcast.Trips, which the features read hour and weekday
// from). A zone offset, when given, is dropped and the wall clock kept as
// written: "2021-01-01T00:15:56Z" reads as 00:15:56 New York time, not
// 19:15:56.
func ParseTime(text string) (time.Time, error) {
	s := text
	var t time.Time
	var err error
	switch {
	case len(s) < len(layoutSpace):
		err = fmt.Errorf("too short")
	case hasZone(s):
		if s[10] == ' ' { // "2006-01-02 15:04:05+00:00", as pandas prints
			s = s[:10] + "T" + s[11:]
		}
		t, err = time.Parse(time.RFC3339Nano, s)
	case s[10] == 'T':
		t, err = time.Parse(layoutT, s)
	default:
		t, err = time.Parse(layoutSpace, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a time such as %q or RFC 3339, got %q", layoutSpace, text)
	}
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), time.UTC), nil
}

func hasZone(s string) bool {
	if s[len(s)-1] == 'Z' || s[len(s)-1] == 'z' {
		return true
	}
	// ...±hh:mm
	return len(s) >= 6 && (s[len(s)-6] == '+' || s[len(s)-6] == '-') && s[len(s)-3] == ':'
}

// SplitArray returns the raw elements of a JSON array (sub-slices of data,
// not copies), checking the whole array's syntax. EINVALID when data is not
// one JSON array.
func SplitArray(data []byte) ([][]byte, error) {
	s := newScanner(data)
	s.WS()
	if s.Peek() != '[' {
		return nil, invalid(s.Err("a JSON array"))
	}
	var out [][]byte
	err := s.Array(func() error {
		start := s.I
		if err := s.Skip(); err != nil {
			return err
		}
		out = append(out, s.B[start:s.I])
		return nil
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, invalid(err)
	}
	return out, nil
}

// SplitLines returns the non-blank lines of NDJSON data (sub-slices of data,
// without their line ends).
func SplitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}
