package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tripcast/httpapi"
)

// TestBatchBudget holds one batch in the middle of its upload (its share of
// the budget taken) while others arrive: the one that does not fit gets 429
// with Retry-After, a small one that fits and the held one succeed, and
// the refused one succeeds once the budget is free again.
func TestBatchBudget(t *testing.T) {
	big := "[" + strings.TrimSuffix(strings.Repeat(event+",", 20), ",") + "]"
	small := "[" + event + "]"
	e := MustServe(t, httpapi.Config{BatchBudgetBytes: int64(len(big) + len(small))})
	e.pred.Swap(linearModel{ver: "1"})

	// The held batch: its body comes through a pipe, a few bytes now.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e.url+"/v1/predict/batch", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(big))
	held := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	if _, err := pw.Write([]byte(big[:10])); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, e, fmt.Sprintf("tripcast_http_batch_budget_used_bytes %d", len(big)))

	t.Run("ErrOverBudget", func(t *testing.T) {
		resp, body := send(t, e.post(t, "/v1/predict/batch", big, "Content-Type", "application/json"))
		if resp.StatusCode != 429 || !strings.Contains(body, "too much batch work at once") {
			t.Errorf("got %d %s, want 429", resp.StatusCode, body)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("got Retry-After %q, want 1", ra)
		}
	})
	t.Run("OKWithinBudget", func(t *testing.T) {
		resp, body := send(t, e.post(t, "/v1/predict/batch", small, "Content-Type", "application/json"))
		if resp.StatusCode != 200 || strings.Count(body, `"ride_id":256`) != 1 {
			t.Errorf("got %d %s, want 200 with one answer", resp.StatusCode, body)
		}
	})
	t.Run("OKHeld", func(t *testing.T) {
		if _, err := pw.Write([]byte(big[10:])); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		got := <-held
		if !strings.HasPrefix(got, "200 ") || strings.Count(got, `"ride_id":256`) != 20 {
			t.Errorf("got %s, want 200 with 20 answers", got)
		}
	})
	t.Run("OKAfter", func(t *testing.T) {
		waitMetric(t, e, "tripcast_http_batch_budget_used_bytes 0")
		resp, body := send(t, e.post(t, "/v1/predict/batch", big, "Content-Type", "application/json"))
		if resp.StatusCode != 200 {
			t.Errorf("got %d %s, want 200 once the budget is free", resp.StatusCode, body)
		}
	})
	t.Run("OKMetrics", func(t *testing.T) {
		waitMetric(t, e, `tripcast_http_requests_total{code="429",route="POST /v1/predict/batch"} 1`)
	})
}

// waitMetric waits until /metrics shows line.
func waitMetric(t *testing.T, e *env, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := e.do(t, "GET", "/metrics", "", "")
		if strings.Contains(body, line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q", line)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
