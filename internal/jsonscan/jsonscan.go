// Package jsonscan is the JSON scanner under tripcast's two hand-written
// decoders: ride events (serve.DecodeEvent, on every prediction) and model
// files (gbdt.ReadJSON, megabytes of numbers). Each walks its own schema
// with a Scanner, which looks at every byte once, in place: no reflection,
// no intermediate values, no copies, no allocation on the common path.
//
// A Scanner accepts exactly the JSON grammar (FuzzSkip checks it against
// json.Valid), plus, when AllowNonFinite is set, the bare NaN, Infinity and
// -Infinity that Python and XGBoost write. Without it those literals are
// still recognised, to say what they are: the callers that read a number
// (Scanner.NonFinite) can name the field, and elsewhere the error says "NaN
// is not a JSON value" instead of "unexpected 'N'".
package jsonscan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Scanner is a position I in a JSON document B. Methods that scan a value
// expect I at its first byte (after white space: see WS) and leave I just
// after it; on error I is at the offending byte.
type Scanner struct {
	B []byte
	I int
	// MaxDepth bounds the nesting of objects and arrays (0: no bound).
	MaxDepth int
	// AllowNonFinite accepts bare NaN, Infinity and -Infinity wherever a
	// value may be (Skip).
	AllowNonFinite bool

	depth int
}

// SyntaxError is a document that is not JSON. Offset is the byte at which
// scanning stopped (len(B) for a truncated document).
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string { return e.msg }

// Err returns a SyntaxError at I saying what was wanted there.
func (s *Scanner) Err(want string) error {
	if s.I >= len(s.B) {
		return &SyntaxError{Offset: len(s.B), msg: "invalid JSON: unexpected end of input, want " + want}
	}
	return &SyntaxError{Offset: s.I, msg: fmt.Sprintf("invalid JSON at byte %d: unexpected %q, want %s", s.I, s.B[s.I], want)}
}

// WS skips white space.
func (s *Scanner) WS() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Peek returns the byte at I, or 0 at the end of the document.
func (s *Scanner) Peek() byte {
	if s.I < len(s.B) {
		return s.B[s.I]
	}
	return 0
}

// Lit consumes lit when it comes next.
func (s *Scanner) Lit(lit string) bool {
	if len(s.B)-s.I >= len(lit) && string(s.B[s.I:s.I+len(lit)]) == lit {
		s.I += len(lit)
		return true
	}
	return false
}

// End checks that only white space follows.
func (s *Scanner) End() error {
	s.WS()
	if s.I != len(s.B) {
		return s.Err("end of input")
	}
	return nil
}

// NonFinite consumes a bare NaN, Infinity or -Infinity when one comes next
// and returns its text.
func (s *Scanner) NonFinite() ([]byte, bool) {
	start := s.I
	if s.Lit("NaN") || s.Lit("Infinity") || s.Lit("-Infinity") {
		return s.B[start:s.I], true
	}
	return nil, false
}

// NotJSONError is the error for a bare NaN or Infinity where the document
// must be JSON.
func NotJSONError(offset int, text []byte) error {
	return &SyntaxError{Offset: offset, msg: fmt.Sprintf("invalid JSON: %s is not a JSON value", text)}
}

// String scans a string at its opening quote and returns its content
// between the quotes (a sub-slice of B), and whether it holds escapes (then
// Unescape decodes it). Escapes are validated; the content is not checked
// for valid UTF-8.
func (s *Scanner) String() (raw []byte, esc bool, err error) {
	if s.I >= len(s.B) || s.B[s.I] != '"' {
		return nil, false, s.Err("a string")
	}
	s.I++
	start := s.I
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			raw = s.B[start:s.I]
			s.I++
			return raw, esc, nil
		case c == '\\':
			esc = true
			s.I++
			if s.I >= len(s.B) {
				return nil, false, s.Err("escape")
			}
			switch s.B[s.I] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.I++
			case 'u':
				for k := 1; k <= 4; k++ {
					if s.I+k >= len(s.B) || !isHex(s.B[s.I+k]) {
						s.I += k
						return nil, false, s.Err("hex digit")
					}
				}
				s.I += 5
			default:
				return nil, false, s.Err("escape character")
			}
		case c < 0x20:
			return nil, false, s.Err("string character")
		default:
			s.I++
		}
	}
	return nil, false, s.Err(`closing "`)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Unescape decodes the content of a string returned by String, as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD). It
// allocates; callers take it only for strings with escapes.
func Unescape(raw []byte) (string, bool) {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var out string
	if err := json.Unmarshal(q, &out); err != nil {
		return "", false
	}
	return out, true
}

// pow10 holds the powers of ten exactly representable in a float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Number scans a number (the JSON grammar) and returns its text and its
// value, converting the digits as it validates them. The value is what
// strconv.ParseFloat returns, bit for bit: integers and decimals of up to
// 15 significant digits with a small exponent (everything XGBoost, Python
// and tripcast write) are converted exactly by one correctly rounded
// multiply or divide of exact operands (Clinger's fast path); anything else
// goes to strconv.ParseFloat. A number too large for a float64 is ±Inf
// (not an error: the caller says in its words that it is out of range).
func (s *Scanner) Number() (raw []byte, x float64, err error) {
	b := s.B
	start := s.I
	j := s.I
	neg := false
	if j < len(b) && b[j] == '-' {
		neg = true
		j++
	}
	var mant uint64
	nd := 0 // significant digits accumulated into mant
	trunc := false
	exp := 0
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			if nd < 19 {
				mant = mant*10 + uint64(b[j]-'0')
				nd++
			} else {
				trunc = true
			}
		}
	default:
		s.I = j
		if neg {
			return nil, 0, s.Err("digit")
		}
		return nil, 0, s.Err("a value")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			s.I = j
			return nil, 0, s.Err("digit")
		}
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			if nd < 19 {
				if mant != 0 || b[j] != '0' {
					nd++
				}
				mant = mant*10 + uint64(b[j]-'0')
				exp--
			} else {
				trunc = true
			}
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		eneg := false
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			eneg = b[j] == '-'
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			s.I = j
			return nil, 0, s.Err("digit")
		}
		e := 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			if e < 100000 {
				e = e*10 + int(b[j]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.I = j
	raw = b[start:j]
	if !trunc && mant < 1<<53 && exp >= -22 && exp <= 22 {
		x = float64(mant)
		if exp >= 0 {
			x *= pow10[exp]
		} else {
			x /= pow10[-exp]
		}
		if neg {
			x = -x
		}
		return raw, x, nil
	}
	// The text is a valid number: ParseFloat fails only on overflow, and
	// then returns ±Inf.
	x, _ = strconv.ParseFloat(string(raw), 64)
	return raw, x, nil
}

// Object scans an object starting at '{', calling fn with each key (decoded
// as encoding/json does when it has escapes or invalid UTF-8; valid until fn
// returns) and I at the value, which fn
// must consume (Skip, if it has no use for it). For a repeated key fn is
// called again.
func (s *Scanner) Object(fn func(key []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.WS()
	if s.Peek() == '}' {
		s.I++
		s.depth--
		return nil
	}
	for {
		s.WS()
		if s.Peek() != '"' {
			return s.Err("object key")
		}
		key, esc, err := s.String()
		if err != nil {
			return err
		}
		if esc || !utf8.Valid(key) { // rare: keys are plain ASCII in practice
			k, _ := Unescape(key) // String validated the escapes
			key = []byte(k)
		}
		s.WS()
		if s.Peek() != ':' {
			return s.Err("':'")
		}
		s.I++
		s.WS()
		if err := fn(key); err != nil {
			return err
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.I++
		case '}':
			s.I++
			s.depth--
			return nil
		default:
			return s.Err("',' or '}'")
		}
	}
}

// Array scans an array starting at '[', calling fn with I at each element,
// which fn must consume.
func (s *Scanner) Array(fn func() error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.WS()
	if s.Peek() == ']' {
		s.I++
		s.depth--
		return nil
	}
	for {
		s.WS()
		if err := fn(); err != nil {
			return err
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.I++
		case ']':
			s.I++
			s.depth--
			return nil
		default:
			return s.Err("',' or ']'")
		}
	}
}

// enter consumes the '{' or '[' of a container, within MaxDepth.
func (s *Scanner) enter() error {
	if s.depth++; s.MaxDepth > 0 && s.depth > s.MaxDepth {
		return &SyntaxError{Offset: s.I, msg: fmt.Sprintf("invalid JSON at byte %d: nested deeper than %d", s.I, s.MaxDepth)}
	}
	s.I++
	return nil
}

// Skip scans and validates one value of any kind.
func (s *Scanner) Skip() error {
	s.WS()
	switch c := s.Peek(); {
	case c == '"':
		_, _, err := s.String()
		return err
	case c == '{':
		return s.Object(func([]byte) error { return s.Skip() })
	case c == '[':
		return s.Array(s.Skip)
	case c == 't' && s.Lit("true"), c == 'f' && s.Lit("false"), c == 'n' && s.Lit("null"):
		return nil
	case c == 'N' || c == 'I' || c == '-' && s.I+1 < len(s.B) && s.B[s.I+1] == 'I':
		start := s.I
		text, ok := s.NonFinite()
		switch {
		case !ok:
			return s.Err("a value")
		case !s.AllowNonFinite:
			s.I = start
			return NotJSONError(start, text)
		}
		return nil
	case c == '-' || '0' <= c && c <= '9':
		_, _, err := s.Number()
		return err
	}
	return s.Err("a value")
}
