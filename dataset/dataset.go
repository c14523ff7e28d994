// Package dataset stores cleaned TLC months in a tripcast.BlobStore and reads
// them back for training, batch scoring and monitoring.
//
// Layout in the store:
//
//	raw/<color>/<YYYY-MM>.parquet                        the TLC file, as published
//	datasets/<color>/<YYYY-MM>/<rule>/trips.parquet      the cleaned month
//	datasets/<color>/<YYYY-MM>/<rule>/manifest.json      its Manifest (written last)
//	reference/taxi_zone_lookup.csv                       the zone lookup
//
// A dataset exists once its manifest does: Save writes the parquet first and
// the manifest last, and Load checks the parquet's sha256 against the
// manifest, so a half-written or replaced dataset is never read silently.
// The cleaned parquet keeps the TLC's column names (lpep_/tpep_ times,
// PULocationID, ...) plus a "duration" column (minutes) and a "tlc_row"
// column (each trip's 0-based row number in the TLC file, tlc.RowColumn), so
// it is also a valid input for tlc and for pandas.
package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
	"tripcast/tlc"
)

// Key names.
const (
	ZonesKey     = "reference/" + tlc.ZonesFile
	datasetsDir  = "datasets/"
	tripsFile    = "trips.parquet"
	manifestFile = "manifest.json"
)

// FormatVersion is the version of the dataset parquet layout, recorded in
// every manifest. Format 2 added the tlc_row column; a format 1 dataset
// still loads, without row numbers (Data.Rows nil).
const FormatVersion = 2

// RawKey returns the blob key of a month's raw TLC file.
func RawKey(color, month string) string { return "raw/" + color + "/" + month + ".parquet" }

// Dir returns the blob folder of a cleaned dataset (no trailing slash).
func Dir(color, month, rule string) string {
	return datasetsDir + color + "/" + month + "/" + rule
}

// Manifest describes a stored dataset.
type Manifest struct {
	Format       int        `json:"format"`        // FormatVersion
	Color        string     `json:"color"`         // green or yellow
	Month        string     `json:"month"`         // YYYY-MM
	Rule         string     `json:"rule"`          // cleaning rule: course or default
	Key          string     `json:"key"`           // blob key of trips.parquet
	URI          string     `json:"uri"`           // full URI of trips.parquet
	SHA256       string     `json:"sha256"`        // hex sha256 of trips.parquet
	Size         int64      `json:"size"`          // bytes of trips.parquet
	Rows         int        `json:"rows"`          // trips in the dataset
	Report       tlc.Report `json:"report"`        // the validation report of the cleaning
	SourceKey    string     `json:"source_key"`    // blob key of the raw file, "" when not stored
	SourceSHA256 string     `json:"source_sha256"` // hex sha256 of the raw file
	Created      time.Time  `json:"created"`
}

// Ref returns the dataset's short reference, "<color>/<month>/<rule>".
func (m Manifest) Ref() string { return m.Color + "/" + m.Month + "/" + m.Rule }

// Data is a cleaned month ready to train on or score.
type Data struct {
	Trips *tripcast.Trips
	// Rows[i] is trip i's 0-based row number in the TLC file it was cleaned
	// from (the course's ride ids are "YYYY/MM_<row>"). nil for a dataset
	// stored in format 1, which did not record them.
	Rows []int
	// Manifest describes the stored dataset. For a local file (see
	// Resolve) it describes the file: Key is "", URI is the file's
	// file:// URI and SourceSHA256 its sha256.
	Manifest Manifest
}

// SHA256 returns the hex sha256 that identifies the data: the dataset
// parquet's, or the local file's.
func (d *Data) SHA256() string {
	if d.Manifest.SHA256 != "" {
		return d.Manifest.SHA256
	}
	return d.Manifest.SourceSHA256
}

// SaveOptions are Save's optional inputs.
type SaveOptions struct {
	Source tripcast.BlobInfo // the stored raw file (Key, SHA256), if any
	Now    time.Time         // creation time; zero: time.Now()
}

// Save writes trips, cleaned as rep says, with rows[i] trip i's row number
// in the TLC file, as the dataset datasets/<color>/<month>/<rule>/: the
// parquet first, then the manifest. On error nothing new is left behind (a
// dataset that existed before is replaced only when the new manifest is
// written).
func Save(ctx context.Context, store tripcast.BlobStore, trips *tripcast.Trips, rows []int, rep tlc.Report, opt SaveOptions) (Manifest, error) {
	if rep.Color == "" || rep.Month == "" || rep.Rule == "" {
		return Manifest{}, tripcast.Errorf(tripcast.EINVALID, "save dataset %s: the report must name the color, month and rule (got %q, %q, %q)", rep.File, rep.Color, rep.Month, rep.Rule)
	}
	if trips.Len() == 0 {
		return Manifest{}, tripcast.Errorf(tripcast.EINVALID, "save dataset %s: no trips", rep.File)
	}
	var buf bytes.Buffer
	if err := WriteParquet(&buf, trips, rows, rep.Color); err != nil {
		return Manifest{}, fmt.Errorf("save dataset %s: %w", rep.File, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	dir := Dir(rep.Color, rep.Month, rep.Rule)
	m := Manifest{
		Format:       FormatVersion,
		Color:        rep.Color,
		Month:        rep.Month,
		Rule:         rep.Rule,
		Key:          dir + "/" + tripsFile,
		URI:          store.URI(dir + "/" + tripsFile),
		SHA256:       hex.EncodeToString(sum[:]),
		Size:         int64(buf.Len()),
		Rows:         trips.Len(),
		Report:       rep,
		SourceKey:    opt.Source.Key,
		SourceSHA256: opt.Source.SHA256,
		Created:      opt.Now.UTC(),
	}
	if opt.Now.IsZero() {
		m.Created = time.Now().UTC()
	}
	info, err := store.Put(ctx, m.Key, &buf)
	if err != nil {
		return Manifest{}, fmt.Errorf("save dataset %s: %w", m.Ref(), err)
	}
	if info.SHA256 != "" && info.SHA256 != m.SHA256 || info.Size != m.Size {
		_ = store.Delete(ctx, m.Key)
		return Manifest{}, fmt.Errorf("save dataset %s: store recorded sha256 %s, %d bytes; wrote %s, %d bytes", m.Ref(), info.SHA256, info.Size, m.SHA256, m.Size)
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("save dataset %s: %w", m.Ref(), err)
	}
	if _, err := store.Put(ctx, dir+"/"+manifestFile, bytes.NewReader(append(js, '\n'))); err != nil {
		// Without its manifest the parquet is not a dataset: remove it.
		_ = store.Delete(context.WithoutCancel(ctx), m.Key)
		return Manifest{}, fmt.Errorf("save dataset %s: %w", m.Ref(), err)
	}
	return m, nil
}

// row is one trip of a green dataset parquet; yellowRow has the same fields
// with tpep_ names (Go converts between the two). Nulls are NaN, which
// parquet readers (pandas included) read as missing.
type row struct {
	Pickup         int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
	Dropoff        int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
	PULocationID   int32   `parquet:"PULocationID"`
	DOLocationID   int32   `parquet:"DOLocationID"`
	TripDistance   float64 `parquet:"trip_distance"`
	PassengerCount float64 `parquet:"passenger_count"`
	FareAmount     float64 `parquet:"fare_amount"`
	TotalAmount    float64 `parquet:"total_amount"`
	Duration       float64 `parquet:"duration"`
	TLCRow         int32   `parquet:"tlc_row"`
}

type yellowRow struct {
	Pickup         int64   `parquet:"tpep_pickup_datetime,timestamp(microsecond)"`
	Dropoff        int64   `parquet:"tpep_dropoff_datetime,timestamp(microsecond)"`
	PULocationID   int32   `parquet:"PULocationID"`
	DOLocationID   int32   `parquet:"DOLocationID"`
	TripDistance   float64 `parquet:"trip_distance"`
	PassengerCount float64 `parquet:"passenger_count"`
	FareAmount     float64 `parquet:"fare_amount"`
	TotalAmount    float64 `parquet:"total_amount"`
	Duration       float64 `parquet:"duration"`
	TLCRow         int32   `parquet:"tlc_row"`
}

// WriteParquet writes trips as a dataset parquet file (snappy: it decodes
// faster than zstd or gzip and training reads datasets often; one row group)
// with the color's TLC column names; tlcRows[i] (trip i's row number in the
// TLC file) goes to the tlc_row column.
func WriteParquet(w io.Writer, trips *tripcast.Trips, tlcRows []int, color string) error {
	if len(tlcRows) != trips.Len() {
		return tripcast.FieldError("rows", "has %d row numbers for %d trips", len(tlcRows), trips.Len())
	}
	rows := make([]row, trips.Len())
	for i := range rows {
		d := math.NaN()
		if trips.Duration != nil {
			d = trips.Duration[i]
		}
		if tlcRows[i] < 0 || tlcRows[i] > math.MaxInt32 {
			return tripcast.FieldError("rows", "row number %d of trip %d is out of range", tlcRows[i], i)
		}
		rows[i] = row{trips.Pickup[i], trips.Dropoff[i], trips.PULocationID[i], trips.DOLocationID[i],
			trips.TripDistance[i], trips.PassengerCount[i], trips.FareAmount[i], trips.TotalAmount[i], d, int32(tlcRows[i])}
	}
	switch color {
	case "green":
		return writeRows(w, rows)
	case "yellow":
		yrows := make([]yellowRow, len(rows))
		for i, r := range rows {
			yrows[i] = yellowRow(r)
		}
		return writeRows(w, yrows)
	}
	return tripcast.FieldError("color", "unknown taxi color %q", color)
}

func writeRows[T any](w io.Writer, rows []T) error {
	pw := parquet.NewGenericWriter[T](w, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("tripcast", "", ""))
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}

// Load reads a stored dataset and checks its sha256 against the manifest.
// ref is a month ("2021-01": green), "<color>/<month>", optionally followed
// by "/<rule>" (without a rule: default if stored, else course), a blob key
// of the dataset's folder, manifest or parquet, or the URI of one of them in
// store. ENOTFOUND when there is no such dataset.
func Load(ctx context.Context, store tripcast.BlobStore, ref string) (*Data, error) {
	m, err := Find(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	return read(ctx, store, m)
}

func read(ctx context.Context, store tripcast.BlobStore, m Manifest) (*Data, error) {
	rc, err := store.Open(ctx, m.Key)
	if err != nil {
		return nil, fmt.Errorf("load dataset %s: %w", m.Ref(), err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("load dataset %s: %w", m.Ref(), err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 || int64(len(data)) != m.Size {
		return nil, tripcast.Errorf(tripcast.EINVALID, "dataset %s is corrupt: %s has sha256 %s and %d bytes, the manifest says %s and %d bytes (ingest the month again)",
			m.Ref(), m.URI, got, len(data), m.SHA256, m.Size)
	}
	raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), m.URI)
	if err != nil {
		return nil, fmt.Errorf("load dataset %s: %w", m.Ref(), err)
	}
	t := raw.Trips
	if t.Len() != m.Rows {
		return nil, tripcast.Errorf(tripcast.EINVALID, "dataset %s is corrupt: %d rows, the manifest says %d", m.Ref(), t.Len(), m.Rows)
	}
	// Duration is recomputed with the formula tlc.Clean used: the same bits.
	t.Duration = make([]float64, t.Len())
	for i := range t.Duration {
		t.Duration[i] = float64(t.Dropoff[i]-t.Pickup[i]) / 60e6
	}
	d := &Data{Trips: t, Manifest: m}
	if raw.Rows != nil {
		d.Rows = widen(raw.Rows)
	}
	return d, nil
}

func widen(rows []int32) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = int(r)
	}
	return out
}

// Find resolves ref (see Load) to a stored dataset's manifest.
func Find(ctx context.Context, store tripcast.BlobStore, ref string) (Manifest, error) {
	key, err := manifestKey(ctx, store, ref)
	if err != nil {
		return Manifest{}, err
	}
	return readManifest(ctx, store, key)
}

// manifestKey turns a reference into the blob key of a manifest.
func manifestKey(ctx context.Context, store tripcast.BlobStore, ref string) (string, error) {
	orig := ref
	if strings.Contains(ref, "://") {
		prefix := store.URI("")
		k, ok := strings.CutPrefix(ref, prefix)
		if !ok {
			return "", tripcast.FieldError("dataset", "%s is not in the blob store %s", ref, prefix)
		}
		ref = k
	}
	ref = strings.Trim(ref, "/")
	if strings.HasPrefix(ref, datasetsDir) {
		switch path.Base(ref) {
		case manifestFile:
			return ref, nil
		case tripsFile:
			return path.Dir(ref) + "/" + manifestFile, nil
		}
		ref = strings.TrimPrefix(ref, datasetsDir)
	}
	parts := strings.Split(ref, "/")
	color := "green"
	if len(parts) > 1 && (parts[0] == "green" || parts[0] == "yellow") {
		color, parts = parts[0], parts[1:]
	}
	if len(parts) == 0 || len(parts) > 2 || !isMonth(parts[0]) {
		return "", tripcast.FieldError("dataset", "%q is not a dataset reference (want YYYY-MM, <color>/YYYY-MM[/<rule>], a blob key or URI)", orig)
	}
	month := parts[0]
	if len(parts) == 2 {
		rule, err := tlc.ParseRule(parts[1])
		if err != nil {
			return "", tripcast.FieldError("dataset", "%q: unknown rule %q (want course or default)", orig, parts[1])
		}
		return Dir(color, month, rule.String()) + "/" + manifestFile, nil
	}
	for _, rule := range []tlc.Rule{tlc.RuleDefault, tlc.RuleCourse} {
		key := Dir(color, month, rule.String()) + "/" + manifestFile
		_, err := store.Stat(ctx, key)
		if err == nil {
			return key, nil
		} else if tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			return "", fmt.Errorf("find dataset %s: %w", orig, err)
		}
	}
	return "", &tripcast.Error{Code: tripcast.ENOTFOUND, Message: fmt.Sprintf("no dataset %s/%s (run: tripcast ingest --color %s --month %s)", color, month, color, month)}
}

func isMonth(s string) bool {
	_, err := time.Parse("2006-01", s)
	return err == nil && len(s) == 7
}

func readManifest(ctx context.Context, store tripcast.BlobStore, key string) (Manifest, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
			return Manifest{}, &tripcast.Error{Code: tripcast.ENOTFOUND, Message: "no dataset at " + store.URI(path.Dir(key)), Err: err}
		}
		return Manifest{}, fmt.Errorf("read dataset manifest: %w", err)
	}
	defer rc.Close()
	var m Manifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return Manifest{}, tripcast.Errorf(tripcast.EINVALID, "dataset manifest %s is unreadable: %v", store.URI(key), err)
	}
	if m.Format < 1 || m.Format > FormatVersion {
		return Manifest{}, tripcast.Errorf(tripcast.EINVALID, "dataset manifest %s has format %d, this tripcast reads 1 to %d", store.URI(key), m.Format, FormatVersion)
	}
	return m, nil
}

// List returns the manifests of every stored dataset, by color, month, rule.
func List(ctx context.Context, store tripcast.BlobStore) ([]Manifest, error) {
	infos, err := store.List(ctx, datasetsDir)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	var out []Manifest
	for _, info := range infos {
		if path.Base(info.Key) != manifestFile {
			continue
		}
		m, err := readManifest(ctx, store, info.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Manifest) int { return strings.Compare(a.Ref(), b.Ref()) })
	return out, nil
}

// Resolve returns the month ref names, for training and scoring: a local
// TLC parquet file (read and cleaned with rule, the month from its name; see
// Data for its Manifest) or a stored dataset (see Load; it keeps the rule it
// was cleaned with). train, batch and simulate resolve their inputs here.
func Resolve(ctx context.Context, store tripcast.BlobStore, ref string, rule tlc.Rule) (*Data, error) {
	if !strings.Contains(ref, "://") {
		if st, err := os.Stat(ref); err == nil && !st.IsDir() {
			d, _, err := readFile(ref, ref, tlc.Options{Rule: rule})
			return d, err
		}
	}
	if store == nil {
		return nil, tripcast.FieldError("dataset", "%q is not a local file and no blob store is open", ref)
	}
	return Load(ctx, store, ref)
}

// readFile reads and cleans the local TLC file at p (name in the report and
// errors) and returns it, with its bytes.
func readFile(p, name string, opt tlc.Options) (*Data, []byte, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Message: p + ": no such file", Err: err}
		}
		return nil, nil, fmt.Errorf("read %s: %w", p, err)
	}
	trips, rows, rep, err := tlc.LoadRows(bytes.NewReader(data), int64(len(data)), name, opt)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(data)
	m := Manifest{
		Format:       FormatVersion,
		Color:        rep.Color,
		Month:        rep.Month,
		Rule:         rep.Rule,
		URI:          fileURI(p),
		Rows:         trips.Len(),
		Report:       *rep,
		SourceSHA256: hex.EncodeToString(sum[:]),
		Created:      time.Now().UTC(),
	}
	return &Data{Trips: trips, Rows: widen(rows), Manifest: m}, data, nil
}

func fileURI(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "file://" + filepath.ToSlash(p)
}

// IngestOptions are Ingest's options.
type IngestOptions struct {
	Name  string // the file's name in the report and errors (a URL, say); "": the path
	Rule  tlc.Rule
	Month string    // "": from the file name
	Now   time.Time // zero: time.Now()
}

// Ingest reads and cleans the TLC file at path, stores it as
// raw/<color>/<month>.parquet and its cleaned trips as a dataset, and returns
// the dataset as stored (its trips, row numbers and manifest: no need to
// load it again). A file that fails to read or clean stores nothing.
func Ingest(ctx context.Context, store tripcast.BlobStore, p string, opt IngestOptions) (*Data, error) {
	name := opt.Name
	if name == "" {
		name = p
	}
	d, data, err := readFile(p, name, tlc.Options{Rule: opt.Rule, Month: opt.Month})
	if err != nil {
		return nil, err
	}
	rep := d.Manifest.Report
	if rep.Month == "" {
		return nil, tripcast.FieldError("month", "%s: cannot tell the file's month from its name; name it <color>_tripdata_YYYY-MM.parquet or give the month", name)
	}
	src, err := store.Put(ctx, RawKey(rep.Color, rep.Month), bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", name, err)
	}
	if d.Manifest, err = Save(ctx, store, d.Trips, d.Rows, rep, SaveOptions{Source: src, Now: opt.Now}); err != nil {
		return nil, err
	}
	return d, nil
}

// PutZones stores the zone lookup file at path as reference/taxi_zone_lookup.csv,
// after checking it parses.
func PutZones(ctx context.Context, store tripcast.BlobStore, p string) (tripcast.BlobInfo, error) {
	if _, err := tlc.LoadZones(p); err != nil {
		return tripcast.BlobInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("store zones: %w", err)
	}
	defer f.Close()
	info, err := store.Put(ctx, ZonesKey, f)
	if err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("store zones: %w", err)
	}
	return info, nil
}

// LoadZones reads the stored zone lookup. ENOTFOUND when it was never stored.
func LoadZones(ctx context.Context, store tripcast.BlobStore) (*tlc.Zones, error) {
	rc, err := store.Open(ctx, ZonesKey)
	if err != nil {
		return nil, fmt.Errorf("load zones: %w", err)
	}
	defer rc.Close()
	z, err := tlc.ReadZones(rc)
	if err != nil {
		return nil, fmt.Errorf("load zones %s: %w", store.URI(ZonesKey), err)
	}
	return z, nil
}
