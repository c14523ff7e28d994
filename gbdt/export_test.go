package gbdt

// BuildBins runs the binning a training starts with (for benchmarks).
func BuildBins(d *Dataset, maxBin, nthread int) error {
	_, _, err := buildBins(d, maxBin, nthread)
	return err
}
