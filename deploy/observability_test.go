package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"tripcast/monitoring"
)

// monitorMetrics are the tripcast_monitor_<figure> gauges: they appear on
// /metrics once a process has reported a window, so they are checked
// against the monitoring loop's figure names instead of a fresh up.
func monitorMetric(n string) bool {
	name, ok := strings.CutPrefix(n, "tripcast_monitor_")
	return ok && slices.Contains(monitoring.FigureNames, name)
}

// prometheusMetrics are made by Prometheus itself, not by tripcast.
var prometheusMetrics = []string{"up"}

var metricName = regexp.MustCompile(`\b(tripcast_[a-z0-9_]+|up)\b`)

// liveMetrics starts tripcast up, sends it a good and a bad HTTP request and
// a bad stream event (so every labelled metric has a series), and returns
// the metric names on its /metrics.
func liveMetrics(t *testing.T) map[string]bool {
	t.Helper()
	bin := tripcastBinary(t)
	listen, natsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "up", "--data-dir", t.TempDir(), "--listen", listen, "--nats-listen", natsAddr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("tripcast up output:\n%s", logs.String())
		}
	}()
	base := "http://" + listen
	waitFor(t, ctx, "tripcast up ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The version make release links in is what /healthz reports.
	if h := getJSON(t, base+"/healthz"); h["version"] != testVersion {
		t.Errorf("/healthz = %v, want version %s", h, testVersion)
	}
	for _, body := range []string{`{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}`, `{"PULocationID": "x"}`} {
		resp, err := http.Post(base+"/predict", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("ride_events", []byte(`{"ride_id": "bad", "ride": {"PULocationID": "x"}}`)); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	var names map[string]bool
	waitFor(t, ctx, "a dead letter and the stream lag on /metrics", func() bool {
		names = scrape(t, base+"/metrics")
		return names["tripcast_dead_letters_total"] && names["tripcast_stream_lag_events"]
	})
	return names
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return v
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scrape returns the names of the samples on a /metrics page.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		names[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	return names
}

// rulesFile is deploy/prometheus/rules.yml.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID  string `json:"refId"`
		Expr   string `json:"expr"`
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// queries returns every PromQL expression of the rules and dashboards, by
// where it is, and the dashboards' SQL queries.
func queries(t *testing.T) (promql, sql map[string]string) {
	t.Helper()
	promql, sql = map[string]string{}, map[string]string{}
	var rf rulesFile
	readYAML(t, "prometheus/rules.yml", &rf)
	rules := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			rules++
			where := "rules.yml " + r.Alert
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: rule without alert or expr", where)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", where)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			promql[where] = r.Expr
		}
	}
	if rules < 8 {
		t.Errorf("rules.yml has %d rules", rules)
	}
	datasources := provisionedDatasources(t)
	files, _ := filepathGlob(t, "grafana/dashboards/*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: no uid or title", f)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			where := f + " panel " + p.Title
			if ids[p.ID] {
				t.Errorf("%s: duplicate id %d", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, p.GridPos)
			}
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || datasources[p.Datasource.UID] != p.Datasource.Type {
				t.Errorf("%s: datasource %+v is not a provisioned one (%v)", where, p.Datasource, datasources)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, q := range p.Targets {
				switch {
				case q.Expr != "":
					promql[where+" "+q.RefID] = q.Expr
				case q.RawSQL != "":
					sql[where+" "+q.RefID] = q.RawSQL
				default:
					t.Errorf("%s %s: empty query", where, q.RefID)
				}
			}
		}
	}
	return promql, sql
}

func filepathGlob(t *testing.T, pattern string) ([]string, error) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files, err
}

// provisionedDatasources returns the provisioned datasources' types by uid.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	var f struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/tripcast.yml", &f)
	out := map[string]string{}
	for _, d := range f.Datasources {
		if d.URL == "" {
			t.Errorf("datasource %s has no url", d.UID)
		}
		out[d.UID] = d.Type
	}
	for _, typ := range []string{"prometheus", "grafana-postgresql-datasource"} {
		if !slices.Contains(mapValues(out), typ) {
			t.Errorf("no %s datasource provisioned", typ)
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestObservabilityMetricsExist checks that every metric the alert rules and
// dashboards query is on /metrics of a running tripcast up.
func TestObservabilityMetricsExist(t *testing.T) {
	promql, _ := queries(t)
	live := liveMetrics(t)
	for where, expr := range promql {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			switch {
			case live[n]:
			case slices.Contains(prometheusMetrics, n):
			case monitorMetric(n):
			default:
				t.Errorf("%s: metric %s is not on /metrics of tripcast up", where, n)
			}
		}
	}
}

var sqlFrom = regexp.MustCompile(`(?i)\bFROM\s+([a-z_]+)`)

// TestObservabilitySQLTables checks that the dashboards' SQL reads tables
// and columns the metadata database has (sqlstore's migrations).
func TestObservabilitySQLTables(t *testing.T) {
	_, sql := queries(t)
	if len(sql) == 0 {
		t.Fatal("no SQL panel: the PostgreSQL datasource is unused")
	}
	schema, err := os.ReadFile("../sqlstore/migrate.go")
	if err != nil {
		t.Fatal(err)
	}
	for where, q := range sql {
		m := sqlFrom.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: no FROM table", where)
			continue
		}
		i := bytes.Index(schema, []byte("CREATE TABLE "+m[1]+" ("))
		if i < 0 {
			t.Errorf("%s: table %s is not in sqlstore's migrations", where, m[1])
			continue
		}
		table := string(schema[i:])
		table = table[:strings.Index(table, ")\n")+1]
		for _, col := range []string{"predicted_at", "version", "prediction"} {
			if strings.Contains(q, col) && !strings.Contains(table, "\t\t"+col+" ") {
				t.Errorf("%s: column %s.%s does not exist", where, m[1], col)
			}
		}
	}
}
