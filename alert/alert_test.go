package alert_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/alert"
	"tripcast/sqlstore/sqlstoretest"
)

// hook is a webhook that fails its first `fail` requests with 500 and
// records the alerts it accepts.
type hook struct {
	mu       sync.Mutex
	fail     int
	requests int
	got      []map[string]any
	arrived  chan struct{}
}

func newHook(t *testing.T, fail int) (*hook, string) {
	h := &hook{fail: fail, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if h.requests <= h.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		h.got = append(h.got, m)
		h.arrived <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hook) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	for range n {
		select {
		case <-h.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook: %d alerts arrived, want %d", len(h.got), n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...)
}

func figs(day int, kv map[string]float64) []tripcast.MonitorFigure {
	s := time.Date(2023, 3, day, 0, 0, 0, 0, time.UTC)
	var out []tripcast.MonitorFigure
	for k, v := range kv {
		out = append(out, tripcast.MonitorFigure{WindowStart: s, WindowEnd: s.AddDate(0, 0, 1), Model: "m", Version: "1", Name: k, Value: v})
	}
	return out
}

func TestAlert(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		// The webhook fails twice: the firing alert arrives on the third
		// try; the states are in the database, so a second alerter (another
		// process) does not send the alert again.
		h, url := newHook(t, 2)
		db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
		n := alert.NewNotifier([]string{url}, alert.NotifierOptions{Backoff: 10 * time.Millisecond})
		defer n.Close(ctx)
		a := &alert.Alerter{Rules: alert.DefaultRules, States: db, Notifier: n}
		other := &alert.Alerter{Rules: alert.DefaultRules, States: db, Notifier: n}

		sent := a.Process(ctx, figs(1, map[string]float64{"prediction_drifted": 1, "rmse_change": 0.5, "share_missing_values": 0}))
		if len(sent) != 2 {
			t.Fatalf("first window: sent %+v, want prediction_drifted and rmse_change firing", sent)
		}
		got := h.wait(t, 2)
		if got[0]["status"] != "firing" || got[0]["text"] == "" || got[0]["model"] != "m" {
			t.Fatalf("webhook got %v, want a firing alert with a text", got[0])
		}
		if again := other.Process(ctx, figs(2, map[string]float64{"prediction_drifted": 1, "rmse_change": 0.6})); len(again) != 0 {
			t.Fatalf("still firing: sent %+v, want nothing", again)
		}
		res := a.Process(ctx, figs(3, map[string]float64{"prediction_drifted": 0, "rmse_change": 0.1}))
		if len(res) != 2 || res[0].Status != alert.Resolved || !res[0].Since.Equal(time.Date(2023, 3, 2, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("resolved: sent %+v, want 2 resolved alerts firing since 2023-03-02", res)
		}
		if got := h.wait(t, 2); got[2]["status"] != "resolved" {
			t.Fatalf("webhook got %v, want resolved", got[2])
		}
	})
	t.Run("NeverBlocks", func(t *testing.T) {
		// A webhook that does not answer: Process returns at once.
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		defer srv.Close()
		n := alert.NewNotifier([]string{srv.URL}, alert.NotifierOptions{Attempts: 1})
		a := &alert.Alerter{Rules: alert.DefaultRules, Notifier: n}
		start := time.Now()
		sent := 0
		for d := 1; d <= 6; d++ {
			sent += len(a.Process(ctx, figs(d, map[string]float64{"dataset_drift": float64(d % 2)})))
		}
		el := time.Since(start)
		close(block)
		n.Close(ctx)
		if el > 2*time.Second || sent != 6 {
			t.Fatalf("Process took %v and sent %d alerts with a hanging webhook, want at once and 6", el, sent)
		}
	})
	t.Run("Rules", func(t *testing.T) {
		r := alert.Rules{MissingShare: 0.1, DeadLetterRate: 0.01}
		cs := r.Evaluate(figs(1, map[string]float64{"share_missing_values": 0.2, "dead_letter_rate": 0.001, "dataset_drift": 1}))
		if len(cs) != 2 {
			t.Fatalf("got %+v, want the 2 enabled rules", cs)
		}
		for _, c := range cs {
			if want := c.Rule == alert.RuleMissingShare; c.Firing != want {
				t.Errorf("%s: firing %v, want %v", c.Rule, c.Firing, want)
			}
		}
	})
}

func TestParseRules(t *testing.T) {
	r, err := alert.ParseRules("dataset_drift, prediction_drift,rmse_change=0.2,missing=0.05,dead_letters=0.01")
	if err != nil || r != alert.DefaultRules {
		t.Fatalf("got %+v, %v; want the default rules", r, err)
	}
	for _, bad := range []string{"drift", "rmse_change", "missing=-1", "dataset_drift=1", "dead_letters=NaN"} {
		if _, err := alert.ParseRules(bad); tripcast.ErrorField(err) != "alert_rules" {
			t.Errorf("%q: got %v, want an error naming alert_rules", bad, err)
		}
	}
}
