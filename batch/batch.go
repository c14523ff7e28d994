// Package batch scores whole months of trips with a model and writes the
// predictions as parquet, with the columns of the MLOps course's batch
// script (ride_id, pickup time, PULocationID, DOLocationID, actual_duration,
// predicted_duration, diff, model_version), to a local file or a blob store.
package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
	"tripcast/internal/atomicfile"
)

// Model is what batch scoring needs from a model; *model.Artifact has it.
type Model interface {
	// PredictTrips predicts every trip of t into out (len(out) == t.Len()).
	PredictTrips(t *tripcast.Trips, out []float64) error
	// Version returns the registered version ("" for an unregistered file).
	Version() string
}

// Options are Score's inputs beside the model and the trips.
type Options struct {
	// Month is the trips' month, YYYY-MM: ride ids are "YYYY/MM_<row>" as in
	// the course. Required.
	Month string
	// Rows holds, for each trip, its row number in the TLC file it came
	// from (see OptionsFor), so ride ids match the course's (pandas keeps
	// the file's index through the filter). nil: the trip's position in
	// trips.
	Rows []int
	// Color is "green" (the default: lpep_pickup_datetime) or "yellow"
	// (tpep_pickup_datetime): it names the pickup time column.
	Color string
	// Version is written as model_version; "": the model's Version(), and
	// "unregistered" when that is empty too.
	Version string
}

// Summary describes a scored batch.
type Summary struct {
	Rows     int     `json:"rows"`      // rows written
	Version  string  `json:"version"`   // model_version written
	RMSE     float64 `json:"rmse"`      // root mean squared diff, minutes
	MeanDiff float64 `json:"mean_diff"` // mean of actual − predicted, minutes
}

// Row is one row of the output parquet (green column names; yellow
// output names the pickup column tpep_pickup_datetime). Pickup is the New
// York wall clock in Unix microseconds, written as a TIMESTAMP(MICROS) not
// adjusted to UTC, like the TLC files.
type Row struct {
	RideID            string  `parquet:"ride_id"`
	Pickup            int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond:local)"`
	PULocationID      int64   `parquet:"PULocationID"`
	DOLocationID      int64   `parquet:"DOLocationID"`
	ActualDuration    float64 `parquet:"actual_duration"`
	PredictedDuration float64 `parquet:"predicted_duration"`
	Diff              float64 `parquet:"diff"`
	ModelVersion      string  `parquet:"model_version,dict"`
}

// yellowRow is Row with the yellow taxi's pickup column name.
type yellowRow struct {
	RideID            string  `parquet:"ride_id"`
	Pickup            int64   `parquet:"tpep_pickup_datetime,timestamp(microsecond:local)"`
	PULocationID      int64   `parquet:"PULocationID"`
	DOLocationID      int64   `parquet:"DOLocationID"`
	ActualDuration    float64 `parquet:"actual_duration"`
	PredictedDuration float64 `parquet:"predicted_duration"`
	Diff              float64 `parquet:"diff"`
	ModelVersion      string  `parquet:"model_version,dict"`
}

// RideIDPrefix returns the course's ride id prefix of a month:
// "2021/01_" for "2021-01".
func RideIDPrefix(month string) (string, error) {
	t, err := time.Parse("2006-01", month)
	if err != nil || len(month) != 7 {
		return "", tripcast.FieldError("month", "must be YYYY-MM, got %q", month)
	}
	return fmt.Sprintf("%04d/%02d_", t.Year(), int(t.Month())), nil
}

// Score predicts every trip with m and writes one parquet row per trip to w
// (snappy, one row group), in the order of trips. trips must carry Duration
// (tlc's cleaning fills it): actual_duration is Duration, diff is
// actual − predicted. A model that answers NaN or ±Inf for any trip fails
// the whole batch (no made-up values are written).
func Score(ctx context.Context, m Model, trips *tripcast.Trips, w io.Writer, opt Options) (Summary, error) {
	rows, sum, err := Predict(ctx, m, trips, opt)
	if err != nil {
		return Summary{}, err
	}
	if err := WriteParquet(w, rows, opt.Color); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// Predict scores trips like Score and returns the rows instead of writing
// them.
func Predict(ctx context.Context, m Model, trips *tripcast.Trips, opt Options) ([]Row, Summary, error) {
	n := trips.Len()
	prefix, err := RideIDPrefix(opt.Month)
	if err != nil {
		return nil, Summary{}, err
	}
	switch {
	case n == 0:
		return nil, Summary{}, tripcast.FieldError("trips", "no trips to score")
	case len(trips.Duration) != n:
		return nil, Summary{}, tripcast.FieldError("trips", "no actual durations (%d for %d trips): clean the trips with tlc first", len(trips.Duration), n)
	case opt.Rows != nil && len(opt.Rows) != n:
		return nil, Summary{}, tripcast.FieldError("rows", "has %d row numbers for %d trips", len(opt.Rows), n)
	}
	if opt.Color != "" && opt.Color != "green" && opt.Color != "yellow" {
		return nil, Summary{}, tripcast.FieldError("color", "unknown taxi color %q (want green or yellow)", opt.Color)
	}
	version := opt.Version
	if version == "" {
		version = m.Version()
	}
	if version == "" {
		version = "unregistered"
	}
	if err := ctx.Err(); err != nil {
		return nil, Summary{}, err
	}
	pred := make([]float64, n)
	if err := m.PredictTrips(trips, pred); err != nil {
		return nil, Summary{}, fmt.Errorf("score %d trips with model version %s: %w", n, version, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Summary{}, err
	}
	// Ride ids are appended into one shared buffer and sliced from it: one
	// allocation for all of them instead of one per row.
	ids := make([]byte, 0, n*(len(prefix)+6))
	rows := make([]Row, n)
	var sq, sd float64
	for i := range rows {
		y := pred[i]
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, Summary{}, tripcast.Errorf(tripcast.EINTERNAL, "model version %s predicted %v for trip %d", version, y, i)
		}
		row := i
		if opt.Rows != nil {
			row = opt.Rows[i]
		}
		ids = append(ids, prefix...)
		ids = strconv.AppendInt(ids, int64(row), 10)
		d := trips.Duration[i] - y
		sq += d * d
		sd += d
		rows[i] = Row{
			Pickup:            trips.Pickup[i],
			PULocationID:      int64(trips.PULocationID[i]),
			DOLocationID:      int64(trips.DOLocationID[i]),
			ActualDuration:    trips.Duration[i],
			PredictedDuration: y,
			Diff:              d,
			ModelVersion:      version,
		}
	}
	// Every id is a substring of one string, built once the buffer is
	// complete.
	all, off := string(ids), 0
	for i := range rows {
		row := i
		if opt.Rows != nil {
			row = opt.Rows[i]
		}
		l := len(prefix) + digits(row)
		rows[i].RideID = all[off : off+l]
		off += l
	}
	return rows, Summary{Rows: n, Version: version, RMSE: math.Sqrt(sq / float64(n)), MeanDiff: sd / float64(n)}, nil
}

// digits returns the number of decimal digits of a non-negative int (with a
// sign for negatives, which row numbers never are).
func digits(v int) int {
	n := 1
	if v < 0 {
		n++
		v = -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// WriteParquet writes rows as the batch output parquet (snappy, one row
// group). color names the pickup column: "green" or "" (lpep_) or "yellow"
// (tpep_).
func WriteParquet(w io.Writer, rows []Row, color string) error {
	switch color {
	case "", "green":
		return writeRows(w, rows)
	case "yellow":
		y := make([]yellowRow, len(rows))
		for i, r := range rows {
			y[i] = yellowRow(r)
		}
		return writeRows(w, y)
	}
	return tripcast.FieldError("color", "unknown taxi color %q (want green or yellow)", color)
}

func writeRows[T any](w io.Writer, rows []T) error {
	pw := parquet.NewGenericWriter[T](w, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("tripcast", "", ""))
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write predictions parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write predictions parquet: %w", err)
	}
	return nil
}

// ReadParquet reads a file written by WriteParquet (either color) back.
func ReadParquet(r io.ReaderAt, size int64) ([]Row, error) {
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, tripcast.Errorf(tripcast.EINVALID, "read predictions parquet: %v", err)
	}
	if _, ok := f.Schema().Lookup("tpep_pickup_datetime"); ok {
		y, err := readRows[yellowRow](f)
		if err != nil {
			return nil, err
		}
		rows := make([]Row, len(y))
		for i, v := range y {
			rows[i] = Row(v)
		}
		return rows, nil
	}
	return readRows[Row](f)
}

func readRows[T any](f *parquet.File) ([]T, error) {
	pr := parquet.NewGenericReader[T](f)
	defer pr.Close()
	rows := make([]T, f.NumRows())
	n, err := pr.Read(rows)
	if err != nil && err != io.EOF {
		return nil, tripcast.Errorf(tripcast.EINVALID, "read predictions parquet: %v", err)
	}
	return rows[:n], nil
}

// WriteFile scores trips (see Score) into the local file path, atomically:
// the parquet is written to a temporary file in the same folder and renamed
// over path only when complete, so path never holds a partial file.
func WriteFile(ctx context.Context, path string, m Model, trips *tripcast.Trips, opt Options) (Summary, error) {
	var sum Summary
	err := atomicfile.Write(path, func(f *os.File) error {
		var err error
		if sum, err = Score(ctx, m, trips, f, opt); err != nil {
			return err
		}
		return f.Sync()
	})
	if err != nil {
		return Summary{}, fmt.Errorf("write predictions %s: %w", path, err)
	}
	return sum, nil
}

// Put scores trips (see Score) into store under key. BlobStore.Put is
// atomic: key holds the whole file or nothing.
func Put(ctx context.Context, store tripcast.BlobStore, key string, m Model, trips *tripcast.Trips, opt Options) (Summary, tripcast.BlobInfo, error) {
	var buf bytes.Buffer
	sum, err := Score(ctx, m, trips, &buf, opt)
	if err != nil {
		return Summary{}, tripcast.BlobInfo{}, err
	}
	info, err := store.Put(ctx, key, &buf)
	if err != nil {
		return Summary{}, tripcast.BlobInfo{}, fmt.Errorf("store predictions %s: %w", store.URI(key), err)
	}
	return sum, info, nil
}

// Output is where Write puts the predictions: a local file (Path) or a key
// in the blob store (Key).
type Output struct {
	Path string // local file, when not ""
	Key  string // blob key, when Path is ""
}

// ParseOutput interprets an --output argument: a URI of the blob store
// (store.URI("") is its prefix: file:///data/... or s3://bucket/prefix/)
// becomes a key; "blob:KEY" is a key in store; any other file:// URI or a
// plain path is a local file. A URI of another store is EINVALID.
func ParseOutput(out string, store tripcast.BlobStore) (Output, error) {
	if out == "" {
		return Output{}, tripcast.FieldError("output", "is empty")
	}
	if k, ok := strings.CutPrefix(out, "blob:"); ok {
		if store == nil {
			return Output{}, tripcast.FieldError("output", "%q names a blob key but no blob store is open", out)
		}
		return Output{Key: strings.TrimPrefix(k, "/")}, nil
	}
	if !strings.Contains(out, "://") {
		return Output{Path: out}, nil
	}
	if store != nil {
		if k, ok := strings.CutPrefix(out, store.URI("")); ok && k != "" {
			return Output{Key: k}, nil
		}
	}
	if p, ok := strings.CutPrefix(out, "file://"); ok {
		return Output{Path: filepath.FromSlash(p)}, nil
	}
	prefix := "(no blob store open)"
	if store != nil {
		prefix = store.URI("")
	}
	return Output{}, tripcast.FieldError("output", "%q is not in the blob store %s (give a local path, a key as blob:KEY, or a URI under the store)", out, prefix)
}

// Write scores trips into out: WriteFile for a path, Put for a key. It
// returns the URI written.
func Write(ctx context.Context, out Output, store tripcast.BlobStore, m Model, trips *tripcast.Trips, opt Options) (Summary, string, error) {
	if out.Path != "" {
		sum, err := WriteFile(ctx, out.Path, m, trips, opt)
		if err != nil {
			return Summary{}, "", err
		}
		abs, aerr := filepath.Abs(out.Path)
		if aerr != nil {
			abs = out.Path
		}
		return sum, "file://" + filepath.ToSlash(abs), nil
	}
	if store == nil {
		return Summary{}, "", tripcast.FieldError("output", "blob key %q given but no blob store is open", out.Key)
	}
	sum, _, err := Put(ctx, store, out.Key, m, trips, opt)
	if err != nil {
		return Summary{}, "", err
	}
	return sum, store.URI(out.Key), nil
}
