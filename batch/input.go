package batch

import "tripcast/dataset"

// OptionsFor returns the scoring options of a month resolved by
// dataset.Resolve: its month, color and each trip's row number in the TLC
// file, so that ride ids are the course's ("2021/01_<row>", where pandas
// keeps the file's index through the duration filter). A dataset stored
// without row numbers (format 1) numbers its trips by position instead.
func OptionsFor(d *dataset.Data) Options {
	return Options{Month: d.Manifest.Month, Rows: d.Rows, Color: d.Manifest.Color}
}
