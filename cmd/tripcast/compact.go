package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tripcast/predlog"
)

// compactResult is what tripcast compact --json prints.
type compactResult struct {
	Held  bool    `json:"held"`  // false: another process held the compaction lease
	Hours int     `json:"hours"` // hour partitions compacted
	Files int     `json:"files"` // files they had
	Secs  float64 `json:"seconds"`
}

func newCompactCmd(a *app) *cobra.Command {
	var (
		lookback, grace time.Duration
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "compact [--lookback 168h] [--grace 5m] [--json]",
		Short: "Merge the parquet prediction log's finished hours into one file each, now",
		Long: `Compact the prediction log in the blob store: each hour partition that ended
more than --grace ago, within --lookback, and holds more than one file is merged
into one file sorted by predicted time (the inputs are deleted once the merged
file is written; a crash in between never makes a reader count a record twice).

Serving processes (up, serve, consume) do this every compact_every already.
Like them, compact first takes the compaction lease in the metadata database,
so it never runs at the same time as theirs; when another process holds the
lease it does nothing and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, store, err := a.logStores(ctx)
			if err != nil {
				return err
			}
			start := time.Now()
			hours, files, held, err := predlog.CompactOnce(ctx, store, db, leaseHolder("compact"),
				predlog.CompactorOptions{Lookback: lookback, Grace: grace, Logger: a.log})
			if err != nil {
				return err
			}
			res := compactResult{Held: held, Hours: hours, Files: files, Secs: time.Since(start).Seconds()}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if !held {
				_, err = fmt.Fprintln(a.out, "another process is compacting the prediction log (it holds the lease); nothing done")
				return err
			}
			_, err = fmt.Fprintf(a.out, "compacted %d hours (%d files) in %.2fs\n", hours, files, res.Secs)
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&lookback, "lookback", predlog.DefaultCompactLookback, "how far back to look for hours to compact")
	f.DurationVar(&grace, "grace", predlog.DefaultCompactGrace, "leave hours that ended less than this ago alone (writers may still flush into them)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
