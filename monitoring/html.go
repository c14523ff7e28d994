package monitoring

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"tripcast/monitor"
)

// WriteHTML writes the report as one self-contained HTML page: the summary
// figures, a drift-score bar chart, and per column the reference and current
// histograms (from ref, may be nil, and d.Data), all drawn as inline SVG
// (nothing is loaded from elsewhere).
func WriteHTML(w io.Writer, d *Document, ref *Reference) error {
	names := make([]string, 0, len(d.Columns))
	for name := range d.Columns {
		names = append(names, name)
	}
	slices.Sort(names)
	v := htmlView{Doc: d, Scores: template.HTML(scoreChart(d, names))}
	for _, name := range names {
		c := d.Columns[name]
		row := htmlColumn{Name: name, Drift: c, Score: fmtPtr(c.Score)}
		var rc, cc *monitor.ColumnProfile
		if ref != nil {
			rc = ref.Profile.Column(name)
		}
		if d.Data != nil {
			cc = d.Data.Profile.Column(name)
		}
		row.Chart = template.HTML(histogram(rc, cc))
		v.Columns = append(v.Columns, row)
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"share drifted", d.ShareDrifted}, {"prediction drift", d.PredictionDrift}, {"share missing values", d.ShareMissingValues},
		{"RMSE", d.RMSE}, {"MAE", d.MAE}, {"R²", d.R2}, {"RMSE change vs validation", d.RMSEChange}} {
		v.Figures = append(v.Figures, [2]string{f.name, fmtPtr(f.v)})
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

type htmlView struct {
	Doc     *Document
	Figures [][2]string
	Scores  template.HTML
	Columns []htmlColumn
}

type htmlColumn struct {
	Name  string
	Drift monitor.ColumnDrift
	Score string
	Chart template.HTML
}

// fmtPtr formats a figure, "–" when it could not be computed (never NaN).
func fmtPtr(p *float64) string {
	if p == nil || !isFinite(*p) {
		return "–"
	}
	return fmt.Sprintf("%.4g", *p)
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tripcast monitoring: {{.Doc.Model}} {{.Doc.Window.Key}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}
.drift{color:#b00020;font-weight:bold}.ok{color:#1b7a1b}.col{display:inline-block;margin:1em 1em 0 0;vertical-align:top}svg text{font:11px sans-serif}</style></head>
<body><h1>Monitoring report: {{.Doc.Model}}{{with .Doc.Version}} version {{.}}{{end}}</h1>
<p>Window {{.Doc.Window.Start.UTC.Format "2006-01-02 15:04"}} – {{.Doc.Window.End.UTC.Format "2006-01-02 15:04"}} UTC, {{.Doc.Rows}} rows.
Reference: {{.Doc.Reference}}. Current: {{.Doc.Current}}.</p>
{{with .Doc.Note}}<p class="drift">{{.}}</p>{{end}}
<p>Dataset drift: {{if .Doc.DatasetDrift}}<span class="drift">yes</span>{{else}}<span class="ok">no</span>{{end}},
{{.Doc.NumDriftedColumns}} of {{.Doc.NumColumns}} tested columns drifted.</p>
<table>{{range .Figures}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h2>Drift scores</h2>{{.Scores}}
<h2>Columns</h2>
<table><tr><th>column</th><th>method</th><th>score</th><th>threshold</th><th>drift</th><th>status</th><th>rows ref / current</th></tr>
{{range .Columns}}<tr><td>{{.Name}}</td><td>{{.Drift.Method}}</td><td>{{.Score}}</td><td>{{.Drift.Threshold}}</td>
<td>{{if .Drift.Drift}}<span class="drift">drift</span>{{else}}no{{end}}</td><td>{{.Drift.Status}}</td><td>{{.Drift.RefRows}} / {{.Drift.CurRows}}</td></tr>{{end}}</table>
{{range .Columns}}<div class="col"><h3>{{.Name}}</h3>{{.Chart}}</div>{{end}}
<p>Grey: reference; blue: current (share of rows per bin).</p>
</body></html>
`))

const (
	chartW, chartH = 360, 160
	padL, padB     = 36, 22
)

// scoreChart draws one bar per tested column: its score, red when it
// drifted. Scores of p-value tests and of distances share the axis 0..1.
func scoreChart(d *Document, names []string) string {
	var b strings.Builder
	h := 22*len(names) + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="520" height="%d" role="img" aria-label="drift scores">`, h)
	for i, name := range names {
		c := d.Columns[name]
		y := 5 + 22*i
		fmt.Fprintf(&b, `<text x="150" y="%d" text-anchor="end">%s</text>`, y+14, template.HTMLEscapeString(name))
		if c.Score == nil {
			fmt.Fprintf(&b, `<text x="158" y="%d">%s</text>`, y+14, template.HTMLEscapeString(string(c.Status)))
			continue
		}
		color := "#4a7bd0"
		if c.Drift {
			color = "#b00020"
		}
		wd := 300 * math.Min(1, math.Max(0, *c.Score))
		fmt.Fprintf(&b, `<rect x="158" y="%d" width="%.1f" height="16" fill="%s"/><text x="%.1f" y="%d">%.4g (%s)</text>`,
			y, math.Max(wd, 1), color, 162+wd, y+13, *c.Score, c.Method)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// histogram draws the reference's and the current's shares per bin: per
// value for up to 40 distinct values, else 30 equal bins between the
// 0.5 % and 99.5 % quantiles of both (the tails go to the end bins).
func histogram(ref, cur *monitor.ColumnProfile) string {
	var lo, hi = math.Inf(1), math.Inf(-1)
	values := map[float64]bool{}
	for _, c := range []*monitor.ColumnProfile{ref, cur} {
		if c == nil || len(c.Values) == 0 {
			continue
		}
		if len(values) <= 40 {
			for _, v := range c.Values {
				values[v] = true
			}
		}
		lo, hi = math.Min(lo, quantile(&c.Counts, 0.005)), math.Max(hi, quantile(&c.Counts, 0.995))
	}
	if math.IsInf(lo, 0) {
		return `<p>no values</p>`
	}
	var edges []float64 // bin i holds values in [edges[i], edges[i+1])
	var labels [2]string
	if len(values) <= 40 {
		for v := range values {
			edges = append(edges, v)
		}
		slices.Sort(edges)
		labels = [2]string{fmt.Sprintf("%.4g", edges[0]), fmt.Sprintf("%.4g", edges[len(edges)-1])}
		edges = append(edges, math.Inf(1))
	} else {
		if hi <= lo {
			hi = lo + 1
		}
		for i := range 31 {
			edges = append(edges, lo+(hi-lo)*float64(i)/30)
		}
		labels = [2]string{fmt.Sprintf("%.4g", lo), fmt.Sprintf("%.4g", hi)}
	}
	shares := [2][]float64{binShares(ref, edges), binShares(cur, edges)}
	top := 0.0
	for _, s := range shares {
		for _, v := range s {
			top = math.Max(top, v)
		}
	}
	if top == 0 {
		top = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">`, chartW, chartH)
	n := len(edges) - 1
	bw := float64(chartW-padL-4) / float64(n)
	for k, color := range []string{"#9e9e9e", "#4a7bd0"} {
		for i, s := range shares[k] {
			hgt := float64(chartH-padB-6) * s / top
			x := float64(padL) + bw*float64(i) + bw*float64(k)/2
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.85"/>`,
				x, float64(chartH-padB)-hgt, math.Max(bw/2-0.5, 0.5), hgt, color)
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`, padL, chartH-padB, chartW-4, chartH-padB)
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">%s</text>`,
		padL, chartH-6, labels[0], chartW-4, chartH-6, labels[1])
	fmt.Fprintf(&b, `<text x="2" y="12">%.2g</text></svg>`, top)
	return b.String()
}

// binShares returns the share of c's values per bin of edges (values below
// the first edge go to the first bin, above the last to the last).
func binShares(c *monitor.ColumnProfile, edges []float64) []float64 {
	out := make([]float64, len(edges)-1)
	if c == nil {
		return out
	}
	n := c.N()
	if n == 0 {
		return out
	}
	for i, v := range c.Values {
		j, _ := slices.BinarySearch(edges, v)
		if j >= len(edges) || edges[j] != v {
			j--
		}
		j = min(max(j, 0), len(out)-1)
		out[j] += float64(c.Counts.Counts[i]) / float64(n)
	}
	return out
}

// quantile returns the q-quantile of a count table (the smallest value
// whose cumulative share reaches q).
func quantile(c *monitor.Counts, q float64) float64 {
	n := c.N()
	target := int64(math.Ceil(q * float64(n)))
	var cum int64
	for i, k := range c.Counts {
		cum += k
		if cum >= target {
			return c.Values[i]
		}
	}
	return c.Values[len(c.Values)-1]
}
