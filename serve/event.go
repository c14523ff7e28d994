package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"tripcast"
)

// Limits of a valid ride event.
const (
	MinZoneID       = 1   // smallest TLC taxi zone
	MaxZoneID       = 265 // largest TLC taxi zone
	MaxTripDistance = 500 // miles
	MaxRideIDLen    = 128 // bytes
	maxDepth        = 64  // JSON nesting accepted in ignored values
)

// The event decoder below is a small strict JSON scanner rather than
// json.Unmarshal: an event has five interesting keys, and scanning them in
// place (no reflection, no intermediate map, no copies) is about 5x faster
// and allocation-free on the common path (BenchmarkDecodeEvent). It accepts
// exactly the JSON grammar (FuzzDecodeEvent checks it against json.Valid),
// plus Python's bare NaN/Infinity literals in value position, which it only
// recognises to name the offending field instead of answering "invalid JSON".

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
// the string's content between the quotes (still escaped when esc).
type value struct {
	kind kind
	esc  bool
	raw  []byte
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

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) syntax(what string) error {
	if s.i >= len(s.b) {
		return tripcast.Errorf(tripcast.EINVALID, "invalid JSON: unexpected end of input, want %s", what)
	}
	return tripcast.Errorf(tripcast.EINVALID, "invalid JSON at byte %d: unexpected %q, want %s", s.i, s.b[s.i], what)
}

// str scans a string starting at the opening quote.
func (s *scanner) str() (value, error) {
	s.i++ // opening quote
	start, esc := s.i, false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := value{kind: kString, esc: esc, raw: s.b[start:s.i]}
			s.i++
			return v, nil
		case c == '\\':
			esc = true
			s.i++
			if s.i >= len(s.b) {
				return value{}, s.syntax("escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) {
					s.i = len(s.b)
					return value{}, s.syntax("4 hex digits")
				}
				for k := 1; k <= 4; k++ {
					if !isHex(s.b[s.i+k]) {
						s.i += k
						return value{}, s.syntax("hex digit")
					}
				}
				s.i += 5
			default:
				return value{}, s.syntax("escape character")
			}
		case c < 0x20:
			return value{}, s.syntax("string character")
		default:
			s.i++
		}
	}
	return value{}, s.syntax(`closing "`)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// num scans a number (JSON grammar) or -Infinity.
func (s *scanner) num() (value, error) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
		if bytes.HasPrefix(s.b[s.i:], []byte("Infinity")) {
			s.i += len("Infinity")
			return value{kind: kNonFinite, raw: s.b[start:s.i]}, nil
		}
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return value{}, s.syntax("digit")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return value{}, s.syntax("digit")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return value{}, s.syntax("digit")
		}
	}
	return value{kind: kNumber, raw: s.b[start:s.i]}, nil
}

func (s *scanner) literal(lit string, k kind) (value, error) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return value{}, s.syntax("a value")
	}
	v := value{kind: k, raw: s.b[s.i : s.i+len(lit)]}
	s.i += len(lit)
	return v, nil
}

// value scans any value. Objects and arrays are validated and skipped.
func (s *scanner) value(depth int) (value, error) {
	s.ws()
	if s.i >= len(s.b) {
		return value{}, s.syntax("a value")
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.str()
	case '{', '[':
		start := s.i
		if depth >= maxDepth {
			return value{}, tripcast.Errorf(tripcast.EINVALID, "invalid JSON at byte %d: nested deeper than %d", s.i, maxDepth)
		}
		var err error
		k := kObject
		if c == '{' {
			err = s.object(depth+1, nil)
		} else {
			k = kArray
			err = s.array(depth+1, nil)
		}
		return value{kind: k, raw: s.b[start:s.i]}, err
	case 't':
		return s.literal("true", kBool)
	case 'f':
		return s.literal("false", kBool)
	case 'n':
		return s.literal("null", kNull)
	case 'N':
		return s.literal("NaN", kNonFinite)
	case 'I':
		return s.literal("Infinity", kNonFinite)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return s.num()
		}
		return value{}, s.syntax("a value")
	}
}

// object scans an object starting at '{', storing the feature keys' values
// in f (nil: skip everything). The top-level event has its own loop (event).
func (s *scanner) object(depth int, f *rideFields) error {
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("object key")
		}
		k, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("':'")
		}
		s.i++
		v, err := s.value(depth)
		if err != nil {
			return err
		}
		used := false
		if f != nil {
			key := k.raw
			if k.esc {
				key = unescapeKey(k.raw)
			}
			used = f.set(key, v)
		}
		if !used && v.kind == kNonFinite {
			return notJSON(v)
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		return s.syntax("',' or '}'")
	}
}

// array scans an array starting at '['; elem, when not nil, gets the raw
// bytes of each element.
func (s *scanner) array(depth int, elem func(raw []byte)) error {
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		start := s.i
		v, err := s.value(depth)
		if err != nil {
			return err
		}
		if v.kind == kNonFinite {
			s.i = start
			return s.syntax("a value")
		}
		if elem != nil {
			elem(s.b[start:s.i])
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		return s.syntax("',' or ']'")
	}
}

// notJSON is the error for a bare NaN or Infinity where no field takes it
// (only the fields DecodeEvent reads name it for what it is).
func notJSON(v value) error {
	return tripcast.Errorf(tripcast.EINVALID, "invalid JSON: %s is not a JSON value", v.raw)
}

// unescapeKey decodes an escaped key (rare: keys are plain ASCII in
// practice). An undecodable key matches nothing.
func unescapeKey(raw []byte) []byte {
	s, ok := unescape(raw)
	if !ok {
		return nil
	}
	return []byte(s)
}

func unescape(raw []byte) (string, bool) {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", false
	}
	return s, true
}

// event is the scanned shape of a ride event, before validation.
type event struct {
	id     value
	ride   value // kind only; the fields go to nested
	flat   rideFields
	nested rideFields
}

func (s *scanner) event(ev *event) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return s.syntax("a JSON object")
	}
	// The top level: ride_id and "ride" are special, features go to flat.
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("object key")
		}
		k, err := s.str()
		if err != nil {
			return err
		}
		key := k.raw
		if k.esc {
			key = unescapeKey(k.raw)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("':'")
		}
		s.i++
		switch string(key) {
		case "ride":
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == '{' {
				ev.nested = rideFields{} // a repeated key: the last one wins
				if err := s.object(1, &ev.nested); err != nil {
					return err
				}
				ev.ride = value{kind: kObject}
			} else {
				v, err := s.value(1)
				if err != nil {
					return err
				}
				ev.ride = v
			}
		case "ride_id":
			v, err := s.value(1)
			if err != nil {
				return err
			}
			ev.id = v
		default:
			v, err := s.value(1)
			if err != nil {
				return err
			}
			if !ev.flat.set(key, v) && v.kind == kNonFinite {
				return notJSON(v)
			}
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			break
		}
		return s.syntax("',' or '}'")
	}
	return s.end()
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("end of input")
	}
	return nil
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
	s := scanner{b: data}
	if err := s.event(&ev); err != nil {
		return tripcast.Ride{}, err
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
			if s, ok = unescape(v.raw); !ok {
				return "", false, tripcast.FieldError(field, "invalid string escape")
			}
		}
		if err := ValidRideID(s); err != nil {
			return "", false, err
		}
		return s, false, nil
	case kNumber:
		if bytes.IndexAny(v.raw, ".eE") < 0 {
			if len(v.raw) > MaxRideIDLen {
				return "", false, tripcast.FieldError(field, "must be at most %d bytes, got %d", MaxRideIDLen, len(v.raw))
			}
			return string(v.raw), true, nil // an integer literal, kept exactly
		}
		x, err := strconv.ParseFloat(string(v.raw), 64)
		if err != nil || math.IsInf(x, 0) {
			return "", false, tripcast.FieldError(field, "number %s out of range", v.raw)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	}
	return "", false, tripcast.FieldError(field, "must be a string or a number, got %s", v.kind)
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
			s, ok := unescape(raw)
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
		v.raw = raw
	case kNonFinite:
		return 0, tripcast.FieldError(field, "must be a finite number, got %s", v.raw)
	default:
		return 0, tripcast.FieldError(field, "must be a number, got %s", v.kind)
	}
	x, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, tripcast.FieldError(field, "number %s out of range", short(v.raw))
	}
	return x, nil
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
		if s, ok = unescape(v.raw); !ok {
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
	s := scanner{b: data}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return nil, s.syntax("a JSON array")
	}
	var out [][]byte
	if err := s.array(1, func(raw []byte) { out = append(out, raw) }); err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
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
