package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// GetResult is what `get` prints: the collider check's view of one HTTP
// request from the client pod.
type GetResult struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	// Body is the start of the response body (the collider backend
	// answers with JSON naming itself).
	Body  string `json:"body,omitempty"`
	Error string `json:"error,omitempty"`
	OK    bool   `json:"ok"`
}

// runGet sends one GET and prints a GetResult; it exits 0 whatever the
// answer, like probe, so callers read the verdict from the JSON.
func runGet(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("url", "", "the URL to GET, e.g. http://collider.fb-collider.svc.cluster.local:10000/ (required)")
	timeout := fs.Duration("timeout", 5*time.Second, "limit for the whole request")
	if err := fs.Parse(args); err != nil {
		return usagef("get: %v", err)
	}
	if u, err := url.Parse(*target); err != nil || u.Scheme != "http" || u.Host == "" {
		return usagef("get: --url %q is not an http URL: pass e.g. --url http://host:8080/", *target)
	}
	if *timeout <= 0 {
		return usagef("get: --timeout %s must be positive, e.g. --timeout 5s", *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res := GetResult{URL: *target}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err == nil {
		var resp *http.Response
		resp, err = http.DefaultTransport.RoundTrip(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			res.Status, res.Body = resp.StatusCode, string(body)
			res.OK = resp.StatusCode/100 == 2
		}
	}
	if err != nil {
		res.Error = err.Error()
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
