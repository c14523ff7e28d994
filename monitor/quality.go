package monitor

import "sort"

// ColumnQuality is the data quality of one column of a window. Shares are nil
// (JSON null) when the column has no rows; counts are exact.
type ColumnQuality struct {
	Rows         int64    `json:"rows"` // values, missing included
	Missing      int64    `json:"missing"`
	ShareMissing *float64 `json:"share_missing"`
	// OutOfRange counts non-missing values outside the spec's [Min, Max].
	OutOfRange      int64    `json:"out_of_range"`
	ShareOutOfRange *float64 `json:"share_out_of_range"`
	// Unseen counts values of a categorical column absent from the reference
	// (zones never seen in training); nil without a reference.
	Unseen      *int64   `json:"unseen,omitempty"`
	ShareUnseen *float64 `json:"share_unseen,omitempty"`
	// Zeros counts values equal to 0 when the spec asks (zero distances).
	Zeros      *int64   `json:"zeros,omitempty"`
	ShareZeros *float64 `json:"share_zeros,omitempty"`
	// Distinct, Min, Mean, Max describe the non-missing values (nil when
	// there are none).
	Distinct int      `json:"distinct"`
	Min      *float64 `json:"min"`
	Mean     *float64 `json:"mean"`
	Max      *float64 `json:"max"`
}

// DataQuality is the data quality of a window.
type DataQuality struct {
	// ShareMissingValues is missing cells over all cells of the columns
	// (Evidently's share_of_missing_values); nil for an empty window.
	ShareMissingValues *float64                 `json:"share_missing_values"`
	Columns            map[string]ColumnQuality `json:"columns"`
}

// Quality computes the data quality of cur's columns. ref, when not nil,
// gives the seen values of the categorical columns. Ranges and zero checks
// come from cur's specs.
func Quality(ref, cur *Profile) *DataQuality {
	q := &DataQuality{Columns: make(map[string]ColumnQuality, len(cur.Columns))}
	var cells, missing int64
	for _, c := range cur.Columns {
		cq := columnQuality(&c)
		if rc := refColumn(ref, c.Name); rc != nil && c.Kind == Categorical {
			var unseen int64
			for i, v := range c.Values {
				if countOf(&rc.Counts, v) == 0 {
					unseen += c.Counts.Counts[i]
				}
			}
			cq.Unseen = &unseen
			cq.ShareUnseen = share(unseen, c.N())
		}
		q.Columns[c.Name] = cq
		cells += cq.Rows
		missing += cq.Missing
	}
	q.ShareMissingValues = share(missing, cells)
	return q
}

func refColumn(ref *Profile, name string) *ColumnProfile {
	if ref == nil {
		return nil
	}
	return ref.Column(name)
}

func columnQuality(c *ColumnProfile) ColumnQuality {
	n := c.N()
	q := ColumnQuality{Rows: n + c.Missing, Missing: c.Missing, Distinct: c.Distinct()}
	q.ShareMissing = share(c.Missing, q.Rows)
	for i, v := range c.Values {
		if (c.Min != nil && v < *c.Min) || (c.Max != nil && v > *c.Max) {
			q.OutOfRange += c.Counts.Counts[i]
		}
	}
	q.ShareOutOfRange = share(q.OutOfRange, n)
	if c.Zeros {
		z := countOf(&c.Counts, 0)
		q.Zeros = &z
		q.ShareZeros = share(z, n)
	}
	if n > 0 {
		mean, _ := c.stats()
		q.Min, q.Mean, q.Max = finite(c.Values[0]), finite(mean), finite(c.Values[len(c.Values)-1])
	}
	return q
}

// share returns k/n, or nil when n is 0.
func share(k, n int64) *float64 {
	if n == 0 {
		return nil
	}
	s := float64(k) / float64(n)
	return &s
}

// Quantile returns numpy's default (linear) quantile q (0..1) of the
// non-missing values of column name, and false when the column is absent,
// empty, or q is out of range (the course's median fare_amount is
// Quantile("fare_amount", 0.5)).
func (p *Profile) Quantile(name string, q float64) (float64, bool) {
	c := p.Column(name)
	if c == nil || c.N() == 0 || !(q >= 0 && q <= 1) {
		return 0, false
	}
	return c.quantile(q), true
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
