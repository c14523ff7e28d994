package gbdt

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tripcast/internal/testfiles"
)

// TestParserNumber checks the JSON number scanner against
// strconv.ParseFloat, bit for bit, on numbers written every way XGBoost,
// WriteJSON and encoding/json write them, and on random decimal strings.
func TestParserNumber(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var toks []string
	for i := 0; i < 30000; i++ {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		f32 := float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(20)-10)))
		toks = append(toks,
			strconv.FormatFloat(f, 'g', -1, 64),
			strconv.FormatFloat(float64(f32), 'E', -1, 32),
			strconv.FormatFloat(float64(f32), 'g', -1, 32),
			strconv.FormatFloat(float64(f32), 'f', -1, 32),
			strconv.FormatInt(rng.Int64N(1<<62)-1<<61, 10),
			strconv.Itoa(rng.IntN(1000)-500),
		)
		// Random digits: long mantissas, leading fraction zeros, exponents.
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(rng.IntN(10)))
		if rng.IntN(2) == 0 {
			b.WriteByte('.')
			for n := rng.IntN(25) + 1; n > 0; n-- {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		if rng.IntN(2) == 0 {
			b.WriteString([]string{"e", "E", "e+", "e-", "E-"}[rng.IntN(5)])
			b.WriteString(strconv.Itoa(rng.IntN(40)))
		}
		toks = append(toks, b.String())
	}
	toks = append(toks, "0", "-0", "1e400", "-1e400", "1e-400", "9007199254740993", "123456789012345678901234567890",
		"0.000000000000000000000000000001", "1.00000000000000000000001", "4.9406564584124654e-324", "2147483647")
	for _, tok := range toks {
		want, werr := strconv.ParseFloat(tok, 64)
		p := newParser([]byte(tok))
		got, err := p.number()
		if (err != nil) != (werr != nil) || err == nil && math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("number(%q): got %v (%v), want %v (%v)", tok, got, err, want, werr)
		}
		if err == nil && p.I != len(tok) {
			t.Fatalf("number(%q): consumed %d bytes, want %d", tok, p.I, len(tok))
		}
		// The integer fast path of numArr must agree too.
		var a numArr
		p = newParser([]byte("[" + tok + "]"))
		err = p.numArr(&a)
		if (err != nil) != (werr != nil) || err == nil && math.Float64bits(a.v[0]) != math.Float64bits(want) {
			t.Fatalf("numArr([%s]): got %v (%v), want %v (%v)", tok, a.v, err, want, werr)
		}
	}
}

// TestReadJSONLarge reads a large model back byte for byte, and rejects it
// with defects placed deep inside its trees.
func TestReadJSONLarge(t *testing.T) {
	fx, err := LoadFile(filepath.Join(testfiles.Fixture(t, "xgboost-1.7-depth6"), "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	// 100 trees repeated to ~3 MB.
	big := &Model{Attributes: fx.Attributes, BaseScore: fx.BaseScore, names: fx.names, cat: fx.cat}
	for len(big.trees) < 400 {
		big.trees = append(big.trees, fx.trees...)
	}
	big.compile()
	var buf bytes.Buffer
	if err := big.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	trees := strings.Index(doc, `"trees":[`) + len(`"trees":[`)
	mid := trees + (len(doc)-trees)/2
	at := strings.Index(doc[mid:], "},{") + mid + 2 // a tree in the middle
	last := strings.LastIndex(doc, `"left_children":[`)
	for _, tc := range []struct{ name, doc string }{
		{"OK", doc},
		{"OKSpaceBetweenTrees", doc[:at-1] + " " + doc[at-1:]},
		{"ErrNullTree", doc[:at] + "null," + doc[at:]},
		{"ErrSyntaxInTree", doc[:at+1] + "x" + doc[at+1:]},
		{"ErrTypeInTree", doc[:at] + strings.Replace(doc[at:], `"left_children":[`, `"left_children":"s",[`, 1)},
		{"ErrLastTree", doc[:last] + `"left_children":[1.5,` + doc[last+len(`"left_children":[`):]},
		{"ErrTruncated", doc[:len(doc)-100]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func() string {
				m, err := ReadJSON(strings.NewReader(tc.doc))
				if err != nil {
					return "error: " + err.Error()
				}
				var b bytes.Buffer
				if err := m.WriteJSON(&b); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			got := read()
			if strings.HasPrefix(tc.name, "OK") && got != doc {
				t.Errorf("got a model that writes %d bytes, want the %d-byte document back", len(got), len(doc))
			}
			if strings.HasPrefix(tc.name, "Err") && !strings.HasPrefix(got, "error: ") {
				t.Errorf("got a model, want an error")
			}
		})
	}
}
