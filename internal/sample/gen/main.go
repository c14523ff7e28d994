// Command gen rebuilds the TLC sample built into tripcast (internal/sample)
// from the real TLC files: for each file named on the command line it reads
// <src>/<file>, keeps the columns tripcast reads (nulls stay null) of every
// -every'th row, adds each kept row's number in the TLC file as tlc.RowColumn
// (so ride ids stay the course's), and writes them as zstd parquet to
// <out>/<file>. The output depends only on the input files and flags: run it
// twice, get the same bytes.
//
//	go generate ./internal/sample
//	go run ./internal/sample/gen -src ../shared/data/tlc -out internal/sample green_tripdata_2021-01.parquet ...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"tripcast"
	"tripcast/tlc"
)

// row is one trip of a green sample file: the TLC's column names and
// logical types (wall-clock timestamps, nullable columns).
type row struct {
	Pickup         *int64   `parquet:"lpep_pickup_datetime,optional,timestamp(microsecond:local)"`
	Dropoff        *int64   `parquet:"lpep_dropoff_datetime,optional,timestamp(microsecond:local)"`
	PULocationID   *int32   `parquet:"PULocationID,optional"`
	DOLocationID   *int32   `parquet:"DOLocationID,optional"`
	PassengerCount *float64 `parquet:"passenger_count,optional"`
	TripDistance   *float64 `parquet:"trip_distance,optional"`
	FareAmount     *float64 `parquet:"fare_amount,optional"`
	TotalAmount    *float64 `parquet:"total_amount,optional"`
	TLCRow         int32    `parquet:"tlc_row,delta"`
}

func main() {
	src := flag.String("src", filepath.Join("..", "..", "..", "shared", "data", "tlc"), "folder of the real TLC files")
	out := flag.String("out", ".", "folder to write the sample files into")
	every := flag.Int("every", 1, "keep rows 0, N, 2N, ... of each file")
	flag.Parse()
	if *every < 1 {
		log.Fatalf("-every %d: want 1 or more", *every)
	}
	total := 0
	for _, name := range flag.Args() {
		n, err := convert(filepath.Join(*src, name), filepath.Join(*out, name), *every)
		if err != nil {
			log.Fatal(err)
		}
		total += n
		fmt.Printf("%s: %d bytes\n", filepath.Join(*out, name), n)
	}
	fmt.Printf("total: %d bytes\n", total)
}

// convert writes the sample file of the TLC file src to dst and returns its
// size.
func convert(src, dst string, every int) (int, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return 0, err
	}
	raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), src)
	if err != nil {
		return 0, err
	}
	if raw.Color != "green" {
		return 0, fmt.Errorf("%s: a %s file, want green (the sample's columns are lpep_)", src, raw.Color)
	}
	rows := rowsOf(raw.Trips, every)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedBestCompression}),
		parquet.CreatedBy("tripcast internal/sample/gen", "", ""))
	if _, err := w.Write(rows); err != nil {
		return 0, fmt.Errorf("%s: %w", dst, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", dst, err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return 0, err
	}
	return buf.Len(), nil
}

// rowsOf returns every every'th trip of t as a row, tlc's nulls (NullTime,
// zone 0, NaN) back as parquet nulls.
func rowsOf(t *tripcast.Trips, every int) []row {
	var rows []row
	for i := 0; i < t.Len(); i += every {
		rows = append(rows, row{
			Pickup:         nullIf(t.Pickup[i], tlc.NullTime),
			Dropoff:        nullIf(t.Dropoff[i], tlc.NullTime),
			PULocationID:   nullIf(t.PULocationID[i], 0),
			DOLocationID:   nullIf(t.DOLocationID[i], 0),
			PassengerCount: nullIfNaN(t.PassengerCount[i]),
			TripDistance:   nullIfNaN(t.TripDistance[i]),
			FareAmount:     nullIfNaN(t.FareAmount[i]),
			TotalAmount:    nullIfNaN(t.TotalAmount[i]),
			TLCRow:         int32(i),
		})
	}
	return rows
}

func nullIf[T comparable](v, null T) *T {
	if v == null {
		return nil
	}
	return &v
}

func nullIfNaN(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}
