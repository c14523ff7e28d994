package jsonscan_test

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"tripcast/internal/jsonscan"
)

func TestNumber(t *testing.T) {
	for _, tok := range []string{"0", "-0", "1", "-12", "3.66", "2.56e2", "1E-7", "1e+22", "1e23", "9007199254740993",
		"123456789012345678901234567890", "0.000000000000000000000000000001", "4.9406564584124654e-324", "1e400", "-1e400", "1e-400"} {
		s := jsonscan.Scanner{B: []byte(tok + ",")}
		raw, got, err := s.Number()
		want, _ := strconv.ParseFloat(tok, 64) // ±Inf on overflow, as Number
		if err != nil || string(raw) != tok || s.I != len(tok) || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("Number(%q): got %q %v %v at %d, want %q %v at %d", tok, raw, got, err, s.I, tok, want, len(tok))
		}
	}
	for _, tok := range []string{"-", "01", "1.", "1.e2", "1e", "1e+", "+1", ".5", "-a"} {
		s := jsonscan.Scanner{B: []byte(tok)}
		_, _, err := s.Number()
		var se *jsonscan.SyntaxError
		if raw := string(s.B[:s.I]); err == nil && raw == tok {
			t.Errorf("Number(%q): got no error, want one", tok)
		} else if err != nil && !errors.As(err, &se) {
			t.Errorf("Number(%q): got %v, want a *SyntaxError", tok, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,`, "invalid JSON: unexpected end of input, want object key"},
		{`{"a" 1}`, `invalid JSON at byte 5: unexpected '1', want ':'`},
		{`[1 2]`, `invalid JSON at byte 3: unexpected '2', want ',' or ']'`},
		{`"a\x"`, `invalid JSON at byte 3: unexpected 'x', want escape character`},
		{`"\u12G4"`, `invalid JSON at byte 5: unexpected 'G', want hex digit`},
		{"\"a\tb\"", `invalid JSON at byte 2: unexpected '\t', want string character`},
		{`[NaN]`, "invalid JSON: NaN is not a JSON value"},
		{`{"x":-Infinity}`, "invalid JSON: -Infinity is not a JSON value"},
		{`[[[[1]]]]`, "invalid JSON at byte 3: nested deeper than 3"},
		{`nul`, "invalid JSON at byte 0: unexpected 'n', want a value"},
	} {
		s := jsonscan.Scanner{B: []byte(tc.in), MaxDepth: 3}
		err := s.Skip()
		if err == nil {
			err = s.End()
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.in, err, tc.want)
		}
	}
	s := jsonscan.Scanner{B: []byte(`[NaN, Infinity, -Infinity, {"a": NaN}]`), AllowNonFinite: true}
	if err := s.Skip(); err != nil || s.End() != nil {
		t.Errorf("AllowNonFinite: got %v, want none", err)
	}
}

func TestObject(t *testing.T) {
	s := jsonscan.Scanner{B: []byte(` {"a": 1, "b\u0041": [true, null], "a": "x\"y"} `)}
	s.WS()
	var got []string
	err := s.Object(func(key []byte) error {
		start := s.I
		if err := s.Skip(); err != nil {
			return err
		}
		got = append(got, string(key)+"="+string(s.B[start:s.I]))
		return nil
	})
	if err == nil {
		err = s.End()
	}
	if want := `a=1 bA=[true, null] a="x\"y"`; err != nil || strings.Join(got, " ") != want {
		t.Errorf("got %q, %v, want %s", got, err, want)
	}
	raw, esc, err := (&jsonscan.Scanner{B: []byte(`"\u00e9\n"`)}).String()
	if u, ok := jsonscan.Unescape(raw); err != nil || !esc || !ok || u != "é\n" {
		t.Errorf("got %q %v %v, want é and a newline", u, esc, err)
	}
}

// FuzzSkip checks the scanner against encoding/json: Skip accepts exactly
// what json.Valid accepts, and with AllowNonFinite it accepts at least that.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,true,false,null,"\u00e9\n"]}`, ` [ ] `, `"\ud800"`, `01`, `[1,]`, `{"a":NaN}`,
		`-Infinity`, `1e400`, "\"\xff\"", `{"a":{"b":{"c":[[[]]]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := jsonscan.Scanner{B: data, MaxDepth: 10000}
		err := s.Skip()
		if err == nil {
			err = s.End()
		}
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("%q: got %v, json.Valid says %v", data, err, valid)
		}
		var se *jsonscan.SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("%q: got %T %v, want a *SyntaxError", data, err, err)
		}
		n := jsonscan.Scanner{B: data, MaxDepth: 10000, AllowNonFinite: true}
		nerr := n.Skip()
		if nerr == nil {
			nerr = n.End()
		}
		if err == nil && nerr != nil {
			t.Fatalf("%q: AllowNonFinite refuses valid JSON: %v", data, nerr)
		}
	})
}
