package tlc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"tripcast"
)

// Options tune Load. The zero value cleans with RuleDefault and takes the
// month from the file name.
type Options struct {
	Rule  Rule
	Month string // YYYY-MM; "" takes it from the file name
}

// LoadFile reads and cleans the TLC parquet file at path with rule. The month
// checked by the default rule comes from the file name
// (green_tripdata_2021-01.parquet or 2021-01.parquet). On a cleaning failure
// (no rows left) the report is returned with the error.
func LoadFile(path string, rule Rule) (*tripcast.Trips, *Report, error) {
	return LoadFileOptions(path, Options{Rule: rule})
}

// LoadFileOptions is LoadFile with explicit options.
func LoadFileOptions(path string, opt Options) (*tripcast.Trips, *Report, error) {
	// The whole file is read at once: months are 1–2 MB, and parquet-go's
	// many small ReadAt calls are cheaper on memory than through syscalls.
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Message: path + ": no such file", Err: err}
		}
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return LoadOptions(bytes.NewReader(b), int64(len(b)), path, opt)
}

// Load reads and cleans a TLC parquet file of size bytes from r; name is used
// in errors and the report, and gives the month.
func Load(r io.ReaderAt, size int64, name string, rule Rule) (*tripcast.Trips, *Report, error) {
	return LoadOptions(r, size, name, Options{Rule: rule})
}

// LoadOptions is Load with explicit options.
func LoadOptions(r io.ReaderAt, size int64, name string, opt Options) (*tripcast.Trips, *Report, error) {
	trips, _, rep, err := LoadRows(r, size, name, opt)
	return trips, rep, err
}

// LoadRows is LoadOptions that also returns each kept trip's 0-based row
// number in the TLC file: its position in the file read, or, for a file that
// carries a RowColumn (a tripcast dataset or the built-in sample), the row
// number that column gives.
func LoadRows(r io.ReaderAt, size int64, name string, opt Options) (*tripcast.Trips, []int32, *Report, error) {
	raw, err := Read(r, size, name)
	if err != nil {
		return nil, nil, nil, err
	}
	month := opt.Month
	if month == "" {
		month = MonthFromName(name)
	}
	rep := &Report{File: name, Color: raw.Color, Month: month}
	trips, keep, err := clean(raw.Trips, opt.Rule, month, rep, true)
	if err != nil {
		return nil, nil, rep, fileError(name, err, "cleaning")
	}
	if raw.Rows != nil {
		// keep indexes the file read; its own column names the TLC rows.
		keep = gather(raw.Rows, keep, false)
	}
	return trips, keep, rep, nil
}

// Raw is a TLC file as read, before cleaning.
type Raw struct {
	Color string          // "green" (lpep_ columns) or "yellow" (tpep_ columns)
	Trips *tripcast.Trips // every row; Duration is not filled
	// Rows is the file's RowColumn when it has one (nil otherwise): each
	// row's number in the TLC file it was taken from.
	Rows []int32
}

// RowColumn is the optional column of a file derived from a TLC file (a
// tripcast dataset, the built-in sample) holding each row's 0-based row
// number in the TLC file it came from. The TLC's own files do not have it.
const RowColumn = "tlc_row"

// columns read from a TLC file; the time columns carry the color's prefix.
const (
	colPickup   = "_pickup_datetime"
	colDropoff  = "_dropoff_datetime"
	colPU       = "PULocationID"
	colDO       = "DOLocationID"
	colDistance = "trip_distance"
	colPass     = "passenger_count"
	colFare     = "fare_amount"
	colTotal    = "total_amount"
)

var magic = []byte("PAR1")

// Read reads the columns tripcast uses from a TLC parquet file, every row,
// without cleaning. It checks the file is parquet, complete, and has the
// required columns, and fails with an error naming the file and the problem.
func Read(r io.ReaderAt, size int64, name string) (*Raw, error) {
	if size == 0 {
		return nil, fileError(name, nil, "empty file (0 bytes)")
	}
	if size < 12 {
		return nil, fileError(name, nil, "not a parquet file (%d bytes, too small)", size)
	}
	var head [4]byte
	var tail [8]byte // footer length, PAR1
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if !bytes.Equal(head[:], magic) {
		return nil, fileError(name, nil, "not a parquet file (no PAR1 magic at the start)")
	}
	if !bytes.Equal(tail[4:], magic) {
		return nil, fileError(name, nil, "truncated parquet file (no PAR1 magic at the end; download it again)")
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer == 0 || footer > size-12 {
		return nil, fileError(name, nil, "unreadable parquet footer (length %d in a file of %d bytes)", footer, size)
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fileError(name, err, "unreadable parquet footer")
	}
	color, prefix, err := detectColor(f, name)
	if err != nil {
		return nil, err
	}
	n := int(f.NumRows())
	if n == 0 {
		return nil, fileError(name, nil, "empty file (no rows)")
	}
	t := &tripcast.Trips{
		Pickup:         make([]int64, n),
		Dropoff:        make([]int64, n),
		PULocationID:   make([]int32, n),
		DOLocationID:   make([]int32, n),
		TripDistance:   make([]float64, n),
		PassengerCount: make([]float64, n),
		FareAmount:     make([]float64, n),
		TotalAmount:    make([]float64, n),
	}
	type column struct {
		name string
		dst  any
	}
	cols := []column{
		{prefix + colPickup, t.Pickup},
		{prefix + colDropoff, t.Dropoff},
		{colPU, t.PULocationID},
		{colDO, t.DOLocationID},
		{colDistance, t.TripDistance},
		{colPass, t.PassengerCount},
		{colFare, t.FareAmount},
		{colTotal, t.TotalAmount},
	}
	var missing []string
	leaves := make([]parquet.LeafColumn, len(cols))
	for i, c := range cols {
		leaf, ok := lookupColumn(f.Schema(), c.name)
		if !ok {
			missing = append(missing, c.name)
		}
		leaves[i] = leaf
	}
	if len(missing) > 0 {
		return nil, fileError(name, nil, "wrong schema: missing required column %s", strings.Join(missing, ", "))
	}
	var rows []int32
	if leaf, ok := lookupColumn(f.Schema(), RowColumn); ok {
		rows = make([]int32, n)
		cols = append(cols, column{RowColumn, rows})
		leaves = append(leaves, leaf)
	}
	convs := make([]*converter, len(cols))
	for i, c := range cols {
		conv, err := converterFor(leaves[i].Node.Type(), c.dst)
		if err != nil {
			return nil, fileError(name, nil, "wrong schema: column %s: %v", c.name, err)
		}
		if leaves[i].MaxRepetitionLevel > 0 {
			return nil, fileError(name, nil, "wrong schema: column %s is repeated", c.name)
		}
		convs[i] = conv
	}
	// Columns are decoded in parallel: decompression (gzip in the TLC's
	// files) is most of the time, and each column chunk is independent.
	errs := make([]error, len(cols))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, c := range cols {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// parquet-go can panic on malformed pages; a bad file must
			// fail with an error, not take the process down.
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fileError(name, nil, "corrupt column %s: %v", c.name, r)
				}
			}()
			errs[i] = readColumn(f, leaves[i], convs[i], c.name, name, n)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return &Raw{Color: color, Trips: t, Rows: rows}, nil
}

// readColumn reads one column of every row group.
func readColumn(f *parquet.File, leaf parquet.LeafColumn, conv *converter, col, name string, n int) error {
	off := 0
	for _, rg := range f.RowGroups() {
		m, err := readChunk(rg.ColumnChunks()[leaf.ColumnIndex], byte(leaf.MaxDefinitionLevel), conv, off, n)
		if err != nil {
			return fileError(name, err, "corrupt column %s", col)
		}
		if m != int(rg.NumRows()) {
			return fileError(name, nil, "corrupt column %s: %d values in a row group of %d rows", col, m, rg.NumRows())
		}
		off += m
	}
	if off != n {
		return fileError(name, nil, "corrupt column %s: %d values for %d rows", col, off, n)
	}
	return nil
}

// detectColor tells green from yellow by the time columns' prefix.
func detectColor(f *parquet.File, name string) (color, prefix string, err error) {
	if _, ok := lookupColumn(f.Schema(), "lpep"+colPickup); ok {
		return "green", "lpep", nil
	}
	if _, ok := lookupColumn(f.Schema(), "tpep"+colPickup); ok {
		return "yellow", "tpep", nil
	}
	want := "lpep" + colPickup + " or tpep" + colPickup
	if c := colorFromName(name); c == "green" {
		want = "lpep" + colPickup
	} else if c == "yellow" {
		want = "tpep" + colPickup
	}
	return "", "", fileError(filepath.Clean(name), nil, "wrong schema: missing required column %s (not a TLC green or yellow trip file)", want)
}

// lookupColumn finds a top-level column by name, ignoring case (the TLC has
// changed the case of some column names between years).
func lookupColumn(s *parquet.Schema, name string) (parquet.LeafColumn, bool) {
	if leaf, ok := s.Lookup(name); ok {
		return leaf, true
	}
	for _, path := range s.Columns() {
		if len(path) == 1 && strings.EqualFold(path[0], name) {
			return s.Lookup(path...)
		}
	}
	return parquet.LeafColumn{}, false
}

// converter fills one destination column from decoded pages.
type converter struct {
	kind parquet.Kind
	// fill writes rows row..row+rows-1: values (or dictionary indexes into
	// values, when idx is not nil) for the rows whose definition level is
	// maxDef, the null value for the others (defs nil: no nulls).
	fill func(values encoding.Values, idx []int32, defs []byte, maxDef byte, row, rows int) error
}

// filler returns a converter's fill for a destination of D from values of S.
// It is generic so that each (physical type, destination) pair gets a tight
// loop over the decoded page buffers, with no parquet.Value per row.
func filler[S, D any](dst []D, values func(encoding.Values) []S, conv func(S) D, null D) func(encoding.Values, []int32, []byte, byte, int, int) error {
	return func(data encoding.Values, idx []int32, defs []byte, maxDef byte, row, rows int) error {
		vals := values(data)
		out := dst[row : row+rows]
		k := 0
		for i := range out {
			if defs != nil && defs[i] != maxDef {
				out[i] = null
				continue
			}
			j := k
			if idx != nil {
				if k >= len(idx) {
					return fmt.Errorf("page has %d dictionary indexes, fewer than its non-null rows", len(idx))
				}
				j = int(idx[k])
			}
			if j < 0 || j >= len(vals) {
				return fmt.Errorf("value %d out of range (%d values or dictionary entries)", j, len(vals))
			}
			out[i] = conv(vals[j])
			k++
		}
		return nil
	}
}

// Julian day of the Unix epoch, for INT96 timestamps.
const julianUnixEpoch = 2440588

func int32s(v encoding.Values) []int32             { return v.Int32() }
func int64s(v encoding.Values) []int64             { return v.Int64() }
func float32s(v encoding.Values) []float32         { return v.Float() }
func float64s(v encoding.Values) []float64         { return v.Double() }
func int96s(v encoding.Values) []deprecated.Int96  { return v.Int96() }
func same[T any](v T) T                            { return v }
func widen[T int32 | int64 | float32](v T) float64 { return float64(v) }

// zoneID converts a location ID of another integer type: out of range
// becomes -1 (an unknown zone, never mistaken for null).
func zoneID[T int64 | float64](v T) int32 {
	if v < math.MinInt32 || v > math.MaxInt32 || v != T(int64(v)) {
		return -1
	}
	return int32(v)
}

// converterFor checks a column's physical and logical type against the
// destination slice and returns the converter that fills it.
func converterFor(typ parquet.Type, dst any) (*converter, error) {
	kind := typ.Kind()
	c := &converter{kind: kind}
	switch d := dst.(type) {
	case []int64: // timestamps → Unix microseconds of the wall clock
		switch kind {
		case parquet.Int64:
			mul, div, err := timestampScale(typ)
			if err != nil {
				return nil, err
			}
			switch {
			case mul == 1 && div == 1:
				c.fill = filler(d, int64s, same[int64], NullTime)
			case div == 1:
				c.fill = filler(d, int64s, func(v int64) int64 { return v * mul }, NullTime)
			default:
				c.fill = filler(d, int64s, func(v int64) int64 { return floorDiv(v, div) }, NullTime)
			}
		case parquet.Int96:
			c.fill = filler(d, int96s, func(v deprecated.Int96) int64 {
				nanos := int64(uint64(v[0]) | uint64(v[1])<<32)
				return (int64(v[2])-julianUnixEpoch)*86_400_000_000 + floorDiv(nanos, 1000)
			}, NullTime)
		default:
			return nil, fmt.Errorf("type %s is not a timestamp", kind)
		}
	case []int32: // zone IDs and RowColumn
		switch kind {
		case parquet.Int32:
			c.fill = filler(d, int32s, same[int32], 0)
		case parquet.Int64:
			c.fill = filler(d, int64s, zoneID[int64], 0)
		case parquet.Double:
			c.fill = filler(d, float64s, zoneID[float64], 0)
		default:
			return nil, fmt.Errorf("type %s is not an integer", kind)
		}
	case []float64:
		nan := math.NaN()
		switch kind {
		case parquet.Double:
			c.fill = filler(d, float64s, same[float64], nan)
		case parquet.Float:
			c.fill = filler(d, float32s, widen[float32], nan)
		case parquet.Int32:
			c.fill = filler(d, int32s, widen[int32], nan)
		case parquet.Int64:
			c.fill = filler(d, int64s, widen[int64], nan)
		default:
			return nil, fmt.Errorf("type %s is not a number", kind)
		}
	default:
		panic(fmt.Sprintf("tlc: no converter for %T", dst))
	}
	return c, nil
}

// floorDiv divides rounding toward −∞ (times before 1970 stay ordered).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// timestampScale returns the factors that turn an INT64 timestamp column's
// values into microseconds (v*mul or v/div), from its logical or converted
// type.
func timestampScale(typ parquet.Type) (mul, div int64, err error) {
	if lt := typ.LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok {
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				return 1000, 1, nil
			case *format.MicroSeconds:
				return 1, 1, nil
			case *format.NanoSeconds:
				return 1, 1000, nil
			}
			return 0, 0, fmt.Errorf("timestamp with unknown unit %s", &ts.Unit)
		}
	}
	if ct := typ.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return 1000, 1, nil
		case deprecated.TimestampMicros:
			return 1, 1, nil
		}
	}
	return 0, 0, errors.New("INT64 without a timestamp type (unit unknown)")
}

// readChunk reads every page of a column chunk into rows off.. of the
// destination and returns the number of rows read. It works on the decoded
// page buffers (plain values or dictionary indexes plus definition levels)
// rather than on parquet.Value rows: that is what makes a month load in a few
// milliseconds.
func readChunk(cc parquet.ColumnChunk, maxDef byte, c *converter, off, n int) (int, error) {
	pages := cc.Pages()
	defer pages.Close()
	row := off
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		} else if err != nil {
			return row - off, err
		}
		rows := int(p.NumRows())
		err = fillPage(p, maxDef, c, row, n)
		parquet.Release(p)
		if err != nil {
			return row - off, err
		}
		row += rows
	}
	return row - off, nil
}

// encodingKind maps the physical types tlc reads to their encoding kinds.
var encodingKind = map[parquet.Kind]encoding.Kind{
	parquet.Int32:  encoding.Int32,
	parquet.Int64:  encoding.Int64,
	parquet.Int96:  encoding.Int96,
	parquet.Float:  encoding.Float,
	parquet.Double: encoding.Double,
}

// fillPage writes one page's rows starting at row.
func fillPage(p parquet.Page, maxDef byte, c *converter, row, n int) error {
	rows := int(p.NumRows())
	if row+rows > n {
		return fmt.Errorf("more values than the file's %d rows", n)
	}
	var defs []byte
	if maxDef > 0 {
		defs = p.DefinitionLevels()
		if len(defs) != rows {
			return fmt.Errorf("page has %d definition levels for %d rows", len(defs), rows)
		}
	}
	data := p.Data()
	var idx []int32
	if d := p.Dictionary(); d != nil {
		idx = data.Int32()
		data = d.Page().Data()
	}
	// Values.Int64() and friends panic on another kind: check first.
	if want := encodingKind[c.kind]; data.Kind() != want {
		return fmt.Errorf("page holds %s values, want %s", data.Kind(), want)
	}
	return c.fill(data, idx, defs, maxDef, row, rows)
}
