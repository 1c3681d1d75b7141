package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/httpbackend"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/servers/probe/probetest"
)

// startServe runs `serve` in the background and returns its ready line.
func startServe(t *testing.T, args ...string) readyLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exit <- run(ctx, append([]string{"serve"}, args...), pw, &stderr)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			if code != exitOK {
				t.Errorf("serve exited %d after shutdown; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not stop within 10s of cancellation")
		}
	})
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("read ready line: %v (stderr: %s)", err, stderr.String())
	}
	// Keep draining so a later write never blocks the server.
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var ready readyLine
	if err := json.Unmarshal(line, &ready); err != nil {
		t.Fatalf("decode ready line %q: %v", line, err)
	}
	return ready
}

func runProbeCmd(t *testing.T, args ...string) probe.Observation {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"probe"}, args...), &stdout, &stderr); code != exitOK {
		t.Fatalf("probe exited %d; stderr:\n%s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("probe printed %d lines, want one JSON line:\n%s", n, stdout.String())
	}
	var obs probe.Observation
	if err := json.Unmarshal(stdout.Bytes(), &obs); err != nil {
		t.Fatalf("decode observation %q: %v", stdout.String(), err)
	}
	t.Logf("%s", stdout.String())
	return obs
}

func TestServeAndProbeEachProtocol(t *testing.T) {
	for _, p := range []scenarios.Protocol{scenarios.MySQL, scenarios.SMTP, scenarios.Mongo, scenarios.DNS} {
		t.Run(string(p), func(t *testing.T) {
			ready := startServe(t, string(p), "--listen", "127.0.0.1:0", "--status", "127.0.0.1:0")
			args := []string{string(p), "--addr", ready.Listen, "--budget", "300ms"}
			if p == scenarios.SMTP {
				args = append(args, "--confirm-url", "http://"+ready.Status+"/messages")
			}
			obs := runProbeCmd(t, args...)
			if obs.Outcome != scenarios.Connected {
				t.Fatalf("outcome %s, want connected: %s", obs.Outcome, obs.Detail)
			}
			if obs.Budget != 300*time.Millisecond || obs.Protocol != p || obs.Addr != ready.Listen {
				t.Errorf("observation does not echo the probe: %+v", obs)
			}
			if p == scenarios.SMTP && !strings.Contains(obs.Detail, "confirmed on the server") {
				t.Errorf("smtp detail %q does not report server-side confirmation", obs.Detail)
			}

			resp, err := http.Get("http://" + ready.Status + "/healthz")
			if err != nil {
				t.Fatalf("healthz: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("healthz answered %s", resp.Status)
			}
		})
	}
}

func TestProbeHungExitsZero(t *testing.T) {
	addr := probetest.SilentAcceptor(t)
	obs := runProbeCmd(t, "mysql", "--addr", addr, "--budget", "200ms")
	if obs.Outcome != scenarios.Hung {
		t.Fatalf("outcome %s, want hung: %s", obs.Outcome, obs.Detail)
	}
}

func TestSMTPMessagesEndpoint(t *testing.T) {
	ready := startServe(t, "smtp", "--listen", "127.0.0.1:0", "--status", "127.0.0.1:0")
	obs := runProbeCmd(t, "smtp", "--addr", ready.Listen, "--budget", "300ms")
	if obs.Outcome != scenarios.Connected {
		t.Fatalf("outcome %s: %s", obs.Outcome, obs.Detail)
	}
	resp, err := http.Get("http://" + ready.Status + "/messages")
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	defer resp.Body.Close()
	var msgs []struct {
		MessageID string `json:"messageId"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("decode messages: %v", err)
	}
	if len(msgs) != 1 || !strings.Contains(obs.Detail, msgs[0].MessageID) {
		t.Errorf("messages %+v do not hold the probe's message (%s)", msgs, obs.Detail)
	}
}

func TestServeHTTP(t *testing.T) {
	ready := startServe(t, "http", "--listen", "127.0.0.1:0", "--name", "collider")
	resp, err := http.Get("http://" + ready.Listen + "/some/path")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	var reply httpbackend.Reply
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if resp.StatusCode != http.StatusOK || reply.Service != "collider" || reply.Path != "/some/path" || reply.Port == 0 {
		t.Errorf("reply %s %+v", resp.Status, reply)
	}
}

func TestBadCommandLines(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		wantMsg  string
	}{
		{nil, exitUsage, "missing command"},
		{[]string{"dance"}, exitUsage, "unknown command"},
		{[]string{"probe"}, exitUsage, "missing protocol"},
		{[]string{"probe", "postgres", "--addr", "x:1"}, exitUsage, `unknown protocol "postgres"`},
		{[]string{"probe", "mysql"}, exitUsage, "--addr"},
		{[]string{"probe", "mysql", "--addr", "nohost"}, exitUsage, "--addr"},
		{[]string{"probe", "mysql", "--addr", "h:1", "--budget", "0s"}, exitUsage, "--budget"},
		{[]string{"probe", "mysql", "--addr", "h:1", "--budget", "soon"}, exitUsage, "-budget"},
		{[]string{"probe", "mysql", "--addr", "h:1", "--confirm-url", "http://x/messages"}, exitUsage, "--confirm-url applies to smtp only"},
		{[]string{"probe", "smtp", "--addr", "h:1", "--confirm-url", "x:8081"}, exitUsage, "--confirm-url"},
		{[]string{"probe", "mysql", "--addr", "h:1", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"serve", "http", "--bogus"}, exitUsage, "-bogus"},
		{[]string{"serve", "mysql", "--listen", "256.1.1.1:1"}, exitFailure, "listen on 256.1.1.1:1"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(stderr.String(), tc.wantMsg) {
				t.Errorf("stderr does not mention %q:\n%s", tc.wantMsg, stderr.String())
			}
		})
	}
}

// get is the collider check: ok against the HTTP backend, an error (still
// exit 0, one JSON line) against a closed port, exit 2 on a bad URL.
func TestGet(t *testing.T) {
	ready := startServe(t, "http", "--listen", "127.0.0.1:0", "--name", "collider")
	get := func(args ...string) (GetResult, int) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"get"}, args...), &stdout, &stderr)
		var res GetResult
		if code == exitOK {
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("decode %q: %v", stdout.String(), err)
			}
		}
		return res, code
	}
	res, code := get("--url", "http://"+ready.Listen+"/")
	if code != exitOK || !res.OK || res.Status != http.StatusOK || !strings.Contains(res.Body, `"collider"`) {
		t.Errorf("collider GET: %d %+v", code, res)
	}
	res, code = get("--url", "http://"+probetest.ClosedPort(t)+"/", "--timeout", "1s")
	if code != exitOK || res.OK || res.Error == "" {
		t.Errorf("closed port: %d %+v", code, res)
	}
	if _, code = get("--url", "ftp://x/"); code != exitUsage {
		t.Errorf("bad URL exit %d, want %d", code, exitUsage)
	}
}
