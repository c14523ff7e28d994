package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"tripcast"
	"tripcast/dataset"
	"tripcast/internal/sample"
	"tripcast/tlc"
)

func newIngestCmd(a *app) *cobra.Command {
	var (
		from     []string
		months   []string
		color    string
		baseURL  string
		ruleName string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "ingest (--from PATH... | --month YYYY-MM...)",
		Short: "Read or download TLC trip months, validate and clean them, store them as datasets",
		Long: `Ingest TLC trip record files into the blob store.

  tripcast ingest --from FILE_OR_FOLDER...    import local parquet files (a folder: its *.parquet)
  tripcast ingest --month 2021-01 --month 2021-02 [--color green] [--base-url URL]
                                              download months from the TLC trip-data site

Each file is stored as raw/<color>/<YYYY-MM>.parquet; its cleaned trips as the
dataset datasets/<color>/<YYYY-MM>/<rule>/ (trips.parquet and manifest.json).
Downloading also stores reference/taxi_zone_lookup.csv.

Rules: "course" keeps trips lasting 1 to 60 minutes (the MLOps course's
filter); "default" also drops pickups outside the file's month, null or
unknown zones (outside 1..265), null, negative or absurd (> 100 miles) distances.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rule, err := tlc.ParseRule(ruleName)
			if err != nil {
				return err
			}
			if len(from) == 0 && len(months) == 0 {
				return tripcast.FieldError("from", "nothing to ingest: give --from PATH or --month YYYY-MM")
			}
			ctx := cmd.Context()
			store, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			in := &ingester{a: a, store: store, rule: rule, json: asJSON}
			files, err := parquetFiles(from)
			if err != nil {
				return err
			}
			for _, f := range files {
				in.file(ctx, f, dataset.IngestOptions{Rule: rule})
			}
			if len(months) > 0 {
				if _, err := in.download(ctx, color, months, baseURL); err != nil {
					return err
				}
			}
			if len(in.errs) > 0 {
				return fmt.Errorf("%d of %d files failed", len(in.errs), in.total)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&from, "from", nil, "local parquet files or folders to import (repeatable)")
	f.StringSliceVar(&months, "month", nil, "months to download, YYYY-MM (repeatable)")
	f.StringVar(&color, "color", "green", "taxi color to download: green or yellow")
	f.StringVar(&baseURL, "base-url", tlc.DefaultBaseURL, "TLC trip-data base URL")
	f.StringVar(&ruleName, "rule", "default", "cleaning rule: course or default")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per file")
	return cmd
}

// ingestResult is the --json line of one file.
type ingestResult struct {
	tlc.Report
	Dataset   string `json:"dataset,omitempty"` // URI of the dataset's trips.parquet
	Key       string `json:"key,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Raw       string `json:"raw,omitempty"` // URI of the stored raw file
	RawSHA256 string `json:"raw_sha256,omitempty"`
	Error     string `json:"error,omitempty"`
}

type ingester struct {
	a     *app
	store tripcast.BlobStore
	rule  tlc.Rule
	json  bool
	total int
	errs  []error // the failures, in order
}

// file ingests one local file, prints its result and returns the dataset
// stored; failures are printed and counted (and nil returned), and the next
// file is tried.
func (in *ingester) file(ctx context.Context, path string, opt dataset.IngestOptions) *dataset.Data {
	in.total++
	name := opt.Name
	if name == "" {
		name = path
	}
	d, err := dataset.Ingest(ctx, in.store, path, opt)
	if err != nil {
		in.errs = append(in.errs, err)
		in.a.log.Error("ingest failed", "file", name, "err", err)
		if in.json {
			in.print(ingestResult{Report: tlc.Report{File: name}, Error: err.Error()})
		}
		return nil
	}
	m := d.Manifest
	in.a.log.Debug("ingested", "file", name, "dataset", m.URI)
	res := ingestResult{Report: m.Report, Dataset: m.URI, Key: m.Key, SHA256: m.SHA256, RawSHA256: m.SourceSHA256}
	if m.SourceKey != "" {
		res.Raw = in.store.URI(m.SourceKey)
	}
	if in.json {
		in.print(res)
		return d
	}
	r := m.Report
	var drops []string
	for _, reason := range in.rule.Reasons() {
		drops = append(drops, fmt.Sprintf("%s %d", reason, r.Dropped[reason]))
	}
	fmt.Fprintf(in.a.out, "%s %s (%s rule): read %d, kept %d; dropped: %s\n  -> %s\n",
		r.Color, r.Month, r.Rule, r.RowsRead, r.RowsKept, strings.Join(drops, ", "), m.URI)
	return d
}

func (in *ingester) print(r ingestResult) {
	b, _ := json.Marshal(r)
	fmt.Fprintln(in.a.out, string(b))
}

// download fetches each month into a temporary folder of the data dir,
// ingests it, and stores the zone lookup. It returns the datasets stored
// (failed months are printed and counted).
func (in *ingester) download(ctx context.Context, color string, months []string, baseURL string) ([]*dataset.Data, error) {
	tmp, err := in.tempDir("download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []*dataset.Data
	d := &tlc.Downloader{BaseURL: baseURL, Log: in.a.log}
	for _, month := range months {
		u := d.MonthURL(color, month)
		dst := filepath.Join(tmp, tlc.FileName(color, month))
		bar := in.progress("downloading " + tlc.FileName(color, month))
		d.Progress = bar.update
		err := d.Month(ctx, color, month, dst)
		bar.finish()
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			in.total++
			in.errs = append(in.errs, err)
			in.a.log.Error("download failed", "url", u, "err", err)
			if in.json {
				in.print(ingestResult{Report: tlc.Report{File: u, Color: color, Month: month}, Error: err.Error()})
			}
			continue
		}
		if ds := in.file(ctx, dst, dataset.IngestOptions{Name: u, Rule: in.rule, Month: month}); ds != nil {
			out = append(out, ds)
		}
		os.Remove(dst)
	}
	zones := filepath.Join(tmp, tlc.ZonesFile)
	d.Progress = nil
	if err := d.Zones(ctx, zones); err != nil {
		return nil, fmt.Errorf("zone lookup: %w", err)
	}
	if _, err := dataset.PutZones(ctx, in.store, zones); err != nil {
		return nil, err
	}
	in.a.log.Info("stored zone lookup", "uri", in.store.URI(dataset.ZonesKey))
	return out, nil
}

// sample ingests the TLC sample built into the binary (see internal/sample)
// and returns its datasets, the training month first.
func (in *ingester) sample(ctx context.Context) ([]*dataset.Data, error) {
	tmp, err := in.tempDir("sample-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files, err := sample.WriteFiles(tmp)
	if err != nil {
		return nil, err
	}
	var out []*dataset.Data
	for _, f := range files {
		opt := dataset.IngestOptions{Name: "built-in sample " + filepath.Base(f), Rule: in.rule}
		if d := in.file(ctx, f, opt); d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// tempDir makes a temporary folder in the data dir (beside the blob store,
// so files move within one file system).
func (in *ingester) tempDir(pattern string) (string, error) {
	if err := os.MkdirAll(in.a.cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	tmp, err := os.MkdirTemp(in.a.cfg.DataDir, pattern)
	if err != nil {
		return "", fmt.Errorf("temporary folder: %w", err)
	}
	return tmp, nil
}

// progressBar draws a download's progress on stderr when it is a terminal,
// and nothing otherwise.
type progressBar struct {
	w    io.Writer
	desc string
	bar  *progressbar.ProgressBar
	max  int64
}

func (in *ingester) progress(desc string) *progressBar {
	f, ok := in.a.errOut.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progressBar{}
	}
	return &progressBar{w: f, desc: desc}
}

func (p *progressBar) update(done, total int64) {
	if p.w == nil {
		return
	}
	if p.bar == nil || total != p.max {
		if p.bar != nil {
			_ = p.bar.Exit()
		}
		p.max = total
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
		)
	}
	_ = p.bar.Set64(done)
}

func (p *progressBar) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// parquetFiles expands the --from paths: files as given, folders to their
// *.parquet files, sorted.
func parquetFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, tripcast.FieldError("from", "%s: no such file or folder", p)
			}
			return nil, fmt.Errorf("--from %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.parquet"))
		if err != nil {
			return nil, fmt.Errorf("--from %s: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, tripcast.FieldError("from", "%s: folder has no *.parquet files", p)
		}
		slices.Sort(matches)
		out = append(out, matches...)
	}
	return out, nil
}
