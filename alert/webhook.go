package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// NotifierOptions tune a Notifier. Zero values take the defaults.
type NotifierOptions struct {
	Client   *http.Client  // http.Client with a 10 s timeout
	Attempts int           // tries per webhook and alert (5)
	Backoff  time.Duration // wait before the second try, doubled after each (1 s)
	Queue    int           // alerts waiting to be sent before new ones are dropped (100)
	Log      *slog.Logger
}

// Notifier POSTs alerts to webhooks from one background goroutine: Notify
// never waits for the network, a failed POST (error or non-2xx status) is
// retried with exponential backoff, and an alert that still fails is
// logged and given up.
type Notifier struct {
	urls  []string
	o     NotifierOptions
	queue chan Alert
	stop  chan struct{}
	done  sync.WaitGroup
}

// NewNotifier starts a notifier for urls (none: alerts are dropped). Close
// it to stop.
func NewNotifier(urls []string, o NotifierOptions) *Notifier {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 100
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{urls: urls, o: o, queue: make(chan Alert, o.Queue), stop: make(chan struct{})}
	n.done.Add(1)
	go n.run()
	return n
}

// Notify queues a for every webhook without waiting; when the queue is
// full the alert is logged and dropped. A nil Notifier does nothing.
func (n *Notifier) Notify(a Alert) {
	if n == nil || len(n.urls) == 0 {
		return
	}
	select {
	case n.queue <- a:
	default:
		n.o.Log.Error("alert queue full: alert dropped", "rule", a.Rule, "status", a.Status, "model", a.Model)
	}
}

// Close sends the queued alerts (retrying until ctx ends) and stops. Notify
// must not be called after Close.
func (n *Notifier) Close(ctx context.Context) {
	close(n.queue)
	finished := make(chan struct{})
	go func() {
		n.done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		close(n.stop) // the retries' waits end: what is left is given up
		<-finished
	}
}

func (n *Notifier) run() {
	defer n.done.Done()
	for a := range n.queue {
		body, err := json.Marshal(a)
		if err != nil {
			n.o.Log.Error("alert not encoded", "rule", a.Rule, "err", err)
			continue
		}
		for _, u := range n.urls {
			n.send(u, a, body)
		}
	}
}

// send POSTs body to u, retrying with backoff until it succeeds, the
// attempts run out or the notifier is stopped.
func (n *Notifier) send(u string, a Alert, body []byte) {
	wait := n.o.Backoff
	var err error
	for try := 1; try <= n.o.Attempts; try++ {
		if err = n.post(u, body); err == nil {
			return
		}
		n.o.Log.Warn("alert webhook failed", "rule", a.Rule, "status", a.Status, "attempt", try, "err", err)
		if try == n.o.Attempts {
			break
		}
		select {
		case <-time.After(wait):
			wait *= 2
		case <-n.stop:
			return
		}
	}
	n.o.Log.Error("alert webhook gave up", "rule", a.Rule, "status", a.Status, "model", a.Model, "attempts", n.o.Attempts, "err", err)
}

func (n *Notifier) post(u string, body []byte) error {
	timeout := n.o.Client.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		// The URL is left out: a webhook URL (Slack's) is a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post alert: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post alert: webhook answered %s", resp.Status)
	}
	return nil
}
