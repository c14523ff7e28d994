package gbdt_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"tripcast/gbdt"
)

// realisticModelJSON is the JSON of a 500-tree, depth-8 model (model500)
// with a ~570 kB escaped feature-spec attribute, like the files tripcast
// train writes (a default-trained model is ~550 trees, 12 MB).
func realisticModelJSON(b *testing.B) []byte {
	m := model500(b)
	var spec strings.Builder
	spec.WriteString(`{"version":"v1","features":[`)
	for i := 0; spec.Len() < 570_000; i++ {
		if i > 0 {
			spec.WriteByte(',')
		}
		spec.WriteString(`{"name":"zone_` + strconv.Itoa(i) + `","kind":"categorical","source":"PULocationID","mean":` + strconv.FormatFloat(float64(i)*0.37, 'g', -1, 64) + `}`)
	}
	spec.WriteString(`]}`)
	m.Attributes["tripcast_feature_spec"] = spec.String()
	defer delete(m.Attributes, "tripcast_feature_spec")
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkReadJSON: parse and compile a 500-tree depth-8 model file
// (what model loading costs before the first prediction).
func BenchmarkReadJSON(b *testing.B) {
	doc := realisticModelJSON(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := processCPU()
	for i := 0; i < b.N; i++ {
		m, err := gbdt.ReadJSON(bytes.NewReader(doc))
		if err != nil {
			b.Fatal(err)
		}
		if m.NumTrees() != 500 {
			b.Fatalf("trees: got %d, want 500", m.NumTrees())
		}
	}
	cpu := processCPU() - c0
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/load")
}
