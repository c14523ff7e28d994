package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"tripcast"
	"tripcast/dataset"
	"tripcast/tlc"
)

// month returns the stored dataset of month (the engine's color),
// downloading it from the TLC site and ingesting it (default cleaning
// rule) when it is not stored. fetched reports whether it downloaded it.
// A month the TLC has not published is an ENOTFOUND error saying so.
func (e *Engine) month(ctx context.Context, month string) (d *dataset.Data, fetched bool, err error) {
	ref := e.cfg.Color + "/" + month
	d, err = dataset.Load(ctx, e.cfg.Blob, ref)
	if err == nil || tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		return d, false, err
	}
	dir, err := os.MkdirTemp(e.cfg.TempDir, "pipeline-fetch-")
	if err != nil {
		return nil, false, fmt.Errorf("fetch %s: %w", ref, err)
	}
	defer os.RemoveAll(dir)
	dl := &tlc.Downloader{BaseURL: e.cfg.BaseURL, Log: e.log}
	dst := filepath.Join(dir, tlc.FileName(e.cfg.Color, month))
	if err := dl.Month(ctx, e.cfg.Color, month, dst); err != nil {
		return nil, false, fmt.Errorf("fetch %s: %w", ref, err)
	}
	d, err = dataset.Ingest(ctx, e.cfg.Blob, dst, dataset.IngestOptions{Name: dl.MonthURL(e.cfg.Color, month), Rule: tlc.RuleDefault, Month: month})
	if err != nil {
		return nil, false, fmt.Errorf("fetch %s: %w", ref, err)
	}
	e.log.Info("fetched month", "color", e.cfg.Color, "month", month, "rows", d.Trips.Len())
	return d, true, nil
}
