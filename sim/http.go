package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"tripcast"
)

// HTTPStats counts an HTTPTarget's answers.
type HTTPStats struct {
	Requests  int `json:"requests"`
	Status2xx int `json:"status_2xx"`
	Status4xx int `json:"status_4xx"`
	Status5xx int `json:"status_5xx"`
	Other     int `json:"status_other"` // 1xx, 3xx
	Errors    int `json:"errors"`       // no answer (connection refused, timeout...)
}

// HTTPTarget posts each ride event to a prediction API and counts the
// answers. Safe for concurrent use.
type HTTPTarget struct {
	url    string
	client *http.Client

	mu    sync.Mutex
	stats HTTPStats
}

// NewHTTP returns a target posting to rawURL: a base URL
// ("http://127.0.0.1:8080") gets tripcast's route /v1/predict; a URL with a
// path (the course's Flask service: "http://localhost:9696/predict") is used
// as is. client nil: a client with a 10 s timeout that keeps idle
// connections for concurrent sends.
func NewHTTP(rawURL string, client *http.Client) (*HTTPTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tripcast.FieldError("target", "%q is not an http:// or https:// URL", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/predict"
	}
	if client == nil {
		// Idle connections kept for concurrent sends (the default
		// transport keeps two per host: the others would be closed and
		// opened again).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		client = &http.Client{Timeout: defaultHTTPTimeout, Transport: tr}
	}
	return &HTTPTarget{url: u.String(), client: client}, nil
}

// URL returns the URL events are posted to.
func (h *HTTPTarget) URL() string { return h.url }

// Send posts event. A 2xx answer is success; a 4xx is EINVALID, a 503
// EUNAVAILABLE and another 5xx EINTERNAL, with the answer's body in the
// message; no answer at all is EUNAVAILABLE.
func (h *HTTPTarget) Send(ctx context.Context, _ string, event []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(event))
	if err != nil {
		return fmt.Errorf("post ride event: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		h.count(0)
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: "post ride event to " + h.url, Err: err}
	}
	// The body is read to the end so the connection is reused.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h.count(resp.StatusCode)
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500:
		return tripcast.Errorf(tripcast.EINVALID, "%s answered %d: %s", h.url, code, strings.TrimSpace(string(body)))
	case code == http.StatusServiceUnavailable:
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "%s answered %d: %s", h.url, code, strings.TrimSpace(string(body)))
	}
	return tripcast.Errorf(tripcast.EINTERNAL, "%s answered %d: %s", h.url, code, strings.TrimSpace(string(body)))
}

func (h *HTTPTarget) count(code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Requests++
	switch {
	case code == 0:
		h.stats.Errors++
	case code >= 200 && code < 300:
		h.stats.Status2xx++
	case code >= 400 && code < 500:
		h.stats.Status4xx++
	case code >= 500 && code < 600:
		h.stats.Status5xx++
	default:
		h.stats.Other++
	}
}

// Stats returns the answers counted so far.
func (h *HTTPTarget) Stats() HTTPStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// defaultHTTPTimeout bounds one request of NewHTTP's default client.
const defaultHTTPTimeout = 10 * time.Second
