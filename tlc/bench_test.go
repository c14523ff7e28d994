package tlc_test

import (
	"bytes"
	"os"
	"testing"

	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

// BenchmarkLoadFile reads and cleans green 2021-01 (76,518 rows) from disk.
func BenchmarkLoadFile(b *testing.B) {
	path := testfiles.Green(b, "2021-01")
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		_, rep, err := tlc.LoadFile(path, tlc.RuleDefault)
		if err != nil {
			b.Fatal(err)
		}
		rows += rep.RowsRead
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRead reads green 2021-01 from memory, without cleaning.
func BenchmarkRead(b *testing.B) {
	data, err := os.ReadFile(testfiles.Green(b, "2021-01"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), "2021-01.parquet")
		if err != nil {
			b.Fatal(err)
		}
		rows += raw.Trips.Len()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
