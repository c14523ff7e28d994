package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"tripcast"
	"tripcast/dataset"
	"tripcast/tlc"
)

// Input is a TLC month ready to score: the cleaned trips, the row number of
// each in the file, and what the file is.
type Input struct {
	Trips  *tripcast.Trips
	Rows   []int       // Rows[i]: trip i's row number in the file (0-based)
	Month  string      // YYYY-MM
	Color  string      // green or yellow
	Report *tlc.Report // the cleaning report
}

// Options returns the scoring options for in: its month, rows and color.
func (in *Input) Options() Options {
	return Options{Month: in.Month, Rows: in.Rows, Color: in.Color}
}

// LoadFile reads and cleans the TLC parquet file at path with rule, like
// tlc.LoadFile, and also returns each kept trip's row number in the file, so
// that ride ids are the course's ("2021/01_<row>", where pandas keeps the
// file's index through the duration filter). The month comes from the file
// name.
func LoadFile(path string, rule tlc.Rule) (*Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Message: path + ": no such file", Err: err}
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw, err := tlc.Read(bytes.NewReader(b), int64(len(b)), path)
	if err != nil {
		return nil, err
	}
	month := tlc.MonthFromName(path)
	if month == "" {
		return nil, tripcast.FieldError("input", "%s: no month in the file name (name it <color>_tripdata_YYYY-MM.parquet)", path)
	}
	rep := &tlc.Report{File: path, Color: raw.Color, Month: month}
	trips, err := tlc.Clean(raw.Trips, rule, month, rep)
	if err != nil {
		return nil, fmt.Errorf("clean %s: %w", path, err)
	}
	rows, err := RowNumbers(raw.Trips, trips)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return &Input{Trips: trips, Rows: rows, Month: month, Color: raw.Color, Report: rep}, nil
}

// RowNumbers returns, for each trip of cleaned, its row number in raw, where
// cleaned is raw filtered by tlc.Clean (a subsequence, in order). Cleaning
// decides each row from its pickup, dropoff, zones and distance only, so the
// first raw row equal to the next cleaned trip on those fields is that trip:
// a rows with the same fields is kept or dropped alike. EINTERNAL when
// cleaned is not such a subsequence of raw.
func RowNumbers(raw, cleaned *tripcast.Trips) ([]int, error) {
	rows := make([]int, cleaned.Len())
	j, n := 0, cleaned.Len()
	for i := 0; i < raw.Len() && j < n; i++ {
		if raw.Pickup[i] == cleaned.Pickup[j] && raw.Dropoff[i] == cleaned.Dropoff[j] &&
			raw.PULocationID[i] == cleaned.PULocationID[j] && raw.DOLocationID[i] == cleaned.DOLocationID[j] &&
			math.Float64bits(raw.TripDistance[i]) == math.Float64bits(cleaned.TripDistance[j]) {
			rows[j] = i
			j++
		}
	}
	if j != n {
		return nil, tripcast.Errorf(tripcast.EINTERNAL, "cleaned trips are not a subsequence of the file's rows (%d of %d matched)", j, n)
	}
	return rows, nil
}

// Resolve returns the month ref names, ready to score: a local TLC parquet
// file (read and cleaned with rule, see LoadFile), or a dataset stored by
// tripcast ingest ("2021-01", "green/2021-01/course", a key or URI: see
// dataset.Load; it keeps the rule it was cleaned with). For a stored dataset
// whose raw file is stored too, row numbers come from the raw file, so ride
// ids are the course's; otherwise they are positions in the dataset.
func Resolve(ctx context.Context, store tripcast.BlobStore, ref string, rule tlc.Rule) (*Input, error) {
	if !strings.Contains(ref, "://") {
		if st, err := os.Stat(ref); err == nil && !st.IsDir() {
			return LoadFile(ref, rule)
		}
	}
	if store == nil {
		return nil, tripcast.FieldError("input", "%q is not a local file and no blob store is open", ref)
	}
	trips, m, err := dataset.Load(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	rep := m.Report
	in := &Input{Trips: trips, Month: m.Month, Color: m.Color, Report: &rep}
	if m.SourceKey == "" {
		return in, nil
	}
	rc, err := store.Open(ctx, m.SourceKey)
	if err != nil {
		return nil, fmt.Errorf("open raw file of dataset %s: %w", m.Ref(), err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read raw file of dataset %s: %w", m.Ref(), err)
	}
	raw, err := tlc.Read(bytes.NewReader(b), int64(len(b)), store.URI(m.SourceKey))
	if err != nil {
		return nil, err
	}
	if in.Rows, err = RowNumbers(raw.Trips, trips); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", m.Ref(), err)
	}
	return in, nil
}
