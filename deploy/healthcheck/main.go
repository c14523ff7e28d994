// Command healthcheck is the container's health probe: the final image has
// no shell and no curl, so HEALTHCHECK runs this static binary. It GETs the
// URL (default http://127.0.0.1:8080/readyz) and exits 0 on a 2xx answer
// within the timeout, 1 otherwise.
//
// Usage: healthcheck [-timeout 3s] [URL]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	flag.Parse()
	url := "http://127.0.0.1:8080/readyz"
	if flag.NArg() > 0 {
		url = flag.Arg(0)
	}
	if err := probe(url, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// probe GETs url and returns an error unless the answer is 2xx in time.
func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("url %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}
