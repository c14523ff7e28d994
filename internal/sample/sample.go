// Package sample is the small sample of real TLC trip data built into the
// tripcast binary, so that `tripcast up` on a fresh clone with no network
// can train and serve a first model: the MLOps course's training and
// validation months, green 2021-01 and 2021-02, every second row (rows 0, 2,
// 4, ... of the TLC files: half the rows, so a first model trains in about
// ten seconds), only the columns tripcast reads plus tlc.RowColumn (each
// row's number in the TLC file, so ride ids stay the course's), as zstd
// parquet files in the TLC's layout: tlc reads them like the TLC's own files.
//
// The files are generated from ../shared/data/tlc by gen (go generate); 1.1
// MB in all.
package sample

//go:generate go run ./gen -src ../../../shared/data/tlc -out . -every 2 green_tripdata_2021-01.parquet green_tripdata_2021-02.parquet

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"

	"tripcast/tlc"
)

// Color is the taxi color of the sample.
const Color = "green"

// Months are the sample's months: the first trains, the second validates.
var Months = []string{"2021-01", "2021-02"}

//go:embed green_tripdata_2021-01.parquet green_tripdata_2021-02.parquet
var files embed.FS

// WriteFiles writes the sample files into dir under their TLC names and
// returns their paths, in the order of Months.
func WriteFiles(dir string) ([]string, error) {
	var paths []string
	for _, month := range Months {
		name := tlc.FileName(Color, month)
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("built-in sample %s: %w", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, fmt.Errorf("write built-in sample: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
