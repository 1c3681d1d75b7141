package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
)

// ActionKind is what the matched filter chain's network filter does.
type ActionKind string

const (
	// TCPProxy relays bytes to Upstream (tcp_proxy).
	TCPProxy ActionKind = "tcp_proxy"
	// HTTP terminates HTTP and routes each request (HTTP connection
	// manager).
	HTTP ActionKind = "http_connection_manager"
	// Close accepts and closes without a byte (tcp_proxy to
	// BlackHoleCluster, or no matching filter chain).
	Close ActionKind = "close"
)

// Action is the second half: the chain's network filter and where it goes.
type Action struct {
	Kind        ActionKind
	FilterChain string
	Cluster     string
	// Upstream is the endpoint a TCPProxy dials.
	Upstream netip.AddrPort
	// Source, when valid, is the address the upstream socket binds
	// (the cluster's upstream_bind_config).
	Source netip.Addr
	// Route picks the upstream endpoint for one HTTP request (HTTP only).
	Route func(r *http.Request) (cluster string, upstream netip.AddrPort, err error)
}

// ErrNotEmulated marks a decision the emulator cannot carry out on the
// socket (Istio mTLS, RBAC, ...). Deciders wrap it into their errors.
var ErrNotEmulated = errors.New("not emulated")

// Decider is Envoy's decision for one connection, made from the listeners
// Istio generated (the envoy model, adapted by the local target). Inspect
// is the first half: the listener and what its listener filters wait for.
type Decider interface {
	Inspect(dst netip.AddrPort) (envoy.ListenerDecision, error)
	Route(dst netip.AddrPort, d Detection, timedOut bool) (Action, error)
}

// ConnRecord says what the emulator did with one connection; the local
// target keeps them as evidence.
type ConnRecord struct {
	// ID numbers the proxy's connections; a record sent again with the
	// same ID replaces the earlier version.
	ID          uint64
	Destination netip.AddrPort
	Listener    string
	Waited      time.Duration
	TimedOut    bool
	ClientBytes int
	Detection   Detection
	Action      ActionKind
	FilterChain string
	Cluster     string
	Upstream    string
	Err         string
	// Refused is true when the Decider failed: the emulator could not act
	// as Envoy would, so it closed the connection, and what the client
	// observed says nothing about Envoy. The local target turns such a
	// probe into an error, never an observation.
	Refused bool

	// Per-phase timings, the evidence of a slow connection. Accepted is
	// when the emulator's accept returned (wall clock, to line up with the
	// probe's own clock); Decision is the time spent in the Decider (its
	// lookups, without the inspectors' wait); Dial is tcp_proxy's upstream
	// connect; FirstServerByte is when the server's first byte reached
	// the emulator, since Accepted (zero when none did).
	Accepted        time.Time
	Decision        time.Duration
	Dial            time.Duration
	FirstServerByte time.Duration
}

func (r ConnRecord) String() string {
	s := fmt.Sprintf("%s → listener %s", r.Destination, r.Listener)
	if r.Waited > 0 || r.TimedOut {
		s += fmt.Sprintf(", inspectors held it %s (timed out: %v, client bytes: %d)", r.Waited.Round(time.Millisecond), r.TimedOut, r.ClientBytes)
	}
	if r.Action != "" {
		s += fmt.Sprintf(", chain %s → %s %s", r.FilterChain, r.Action, r.Cluster)
	}
	if r.Upstream != "" {
		s += " → " + r.Upstream
	}
	if r.Err != "" {
		s += ": " + r.Err
	}
	if r.Refused {
		s += " (refused by the emulator)"
	}
	if !r.Accepted.IsZero() {
		s += fmt.Sprintf(" [accepted %s, decision %s, upstream dial %s, first server byte %s]",
			r.Accepted.UTC().Format("15:04:05.000000"), r.Decision, r.Dial, sinceAccept(r.FirstServerByte))
	}
	return s
}

func sinceAccept(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return "+" + d.String()
}

// Proxy is one side of the emulated sidecar: outbound (port 15001,
// virtualOutbound) or inbound (port 15006, virtualInbound); its Decider
// says which.
type Proxy struct {
	Decider Decider
	// Dial opens upstream connections; they must not be captured again
	// (the local target dials as the proxy UID that Istio's rules exempt).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialFrom opens an upstream connection bound to a source address,
	// for actions that name one; nil refuses them.
	DialFrom func(ctx context.Context, source netip.Addr, network, addr string) (net.Conn, error)
	// Record receives a connection's record once it is decided, and again
	// (same ID) when a relayed connection's first server byte arrives.
	Record func(ConnRecord)
	Logger *slog.Logger

	seq   atomic.Uint64
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Serve accepts redirected connections until ln is closed or Close is
// called.
func (p *Proxy) Serve(ln net.Listener) error {
	p.init()
	go func() {
		<-p.stop
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-p.stop:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("emulated sidecar accept: %w", err)
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.handle(c)
		}()
	}
}

func (p *Proxy) init() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		p.stop = make(chan struct{})
		p.conns = map[net.Conn]struct{}{}
	}
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

// Close stops accepting, closes every open connection and waits for the
// handlers to finish.
func (p *Proxy) Close() {
	p.init()
	p.mu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Proxy) handle(c net.Conn) {
	rec := ConnRecord{ID: p.seq.Add(1), Accepted: time.Now()}
	// The record goes out once the decision is complete: before a relay
	// starts (it may last long), at the end otherwise; a relay sends it
	// again, updated, at the server's first byte (before the client sees
	// it). Record keeps the last version of each ID.
	emitted := false
	emit := func() {
		emitted = true
		if p.Record != nil {
			p.Record(rec)
		}
		p.logger().Debug("connection", "record", rec.String())
	}
	defer func() {
		if !emitted {
			emit()
		}
	}()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		rec.Err = "not a TCP connection"
		c.Close()
		return
	}
	dst, err := OriginalDestination(tc)
	if err != nil {
		rec.Err = err.Error()
		c.Close()
		return
	}
	rec.Destination = dst
	t := time.Now()
	insp, err := p.Decider.Inspect(dst)
	rec.Decision = time.Since(t)
	if err != nil {
		// Recorded before the close, so the client sees the close after
		// the record exists.
		rec.Err, rec.Refused = err.Error(), true
		emit()
		Reset(c)
		return
	}
	rec.Listener = insp.Listener
	// Envoy's listener-filter state machine says what a silent client
	// meets; the emulator reads the socket for as long as it says.
	silent := insp.Wait(envoy.NoClientBytes)
	inspectors := InspectorsOf(insp.ListenerFilters)
	var sniffed Sniffed
	if silent.Kind != envoy.ChainNow {
		sniffed = Inspect(c, insp.Timeout, inspectors.Decided, p.stop)
		rec.Waited, rec.TimedOut, rec.ClientBytes = sniffed.Waited, sniffed.TimedOut, len(sniffed.Bytes)
		switch {
		case sniffed.Closed:
			rec.Err = "client closed while the inspectors waited for its first bytes"
			c.Close()
			return
		case sniffed.TimedOut && silent.Kind == envoy.CloseAfter:
			rec.Err = "listener filter timeout without continue_on_listener_filters_timeout: closed"
			c.Close()
			return
		}
		select {
		case <-p.stop:
			c.Close()
			return
		default:
		}
	}
	rec.Detection = inspectors.Detect(sniffed.Bytes)
	t = time.Now()
	act, err := p.Decider.Route(dst, rec.Detection, sniffed.TimedOut)
	rec.Decision += time.Since(t)
	if err != nil {
		rec.Err, rec.Refused = err.Error(), true
		emit()
		c.Close()
		return
	}
	rec.Action, rec.FilterChain, rec.Cluster = act.Kind, act.FilterChain, act.Cluster
	down := WithPrefix(c, sniffed.Bytes)
	switch act.Kind {
	case TCPProxy:
		rec.Upstream = act.Upstream.String()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t = time.Now()
		up, err := p.dial(ctx, act)
		rec.Dial = time.Since(t)
		cancel()
		if err != nil {
			// Envoy's tcp_proxy closes the downstream when the upstream
			// connect fails.
			rec.Err = "upstream connect: " + err.Error()
			c.Close()
			return
		}
		emit()
		// The relay's goroutine updates rec while this one waits in Relay.
		Relay(down, up, func() {
			rec.FirstServerByte = time.Since(rec.Accepted)
			emit()
		})
	case HTTP:
		p.serveHTTP(down, act, &rec)
	default:
		c.Close()
	}
}

func (p *Proxy) dial(ctx context.Context, act Action) (net.Conn, error) {
	if !act.Source.IsValid() {
		return p.Dial(ctx, "tcp", act.Upstream.String())
	}
	if p.DialFrom == nil {
		return nil, fmt.Errorf("cluster %s binds upstream sockets to %s, and this proxy has no DialFrom", act.Cluster, act.Source)
	}
	return p.DialFrom(ctx, act.Source, "tcp", act.Upstream.String())
}

// serveHTTP acts as the HTTP connection manager on one downstream
// connection: each request is routed by the action and proxied.
func (p *Proxy) serveHTTP(down net.Conn, act Action, rec *ConnRecord) {
	defer down.Close()
	br := bufio.NewReader(down)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rec.Err = "reading HTTP request: " + err.Error()
			}
			return
		}
		cluster, upstream, err := act.Route(req)
		rec.Cluster, rec.Upstream = cluster, upstream.String()
		if err != nil {
			rec.Err, rec.Refused = err.Error(), errors.Is(err, ErrNotEmulated)
			resp := &http.Response{StatusCode: http.StatusNotFound, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Request: req}
			resp.Write(down)
			return
		}
		req.URL.Scheme, req.URL.Host, req.RequestURI = "http", upstream.String(), ""
		resp, err := (&http.Transport{DialContext: p.Dial, DisableKeepAlives: true}).RoundTrip(req)
		if err != nil {
			rec.Err = "upstream: " + err.Error()
			resp := &http.Response{StatusCode: http.StatusServiceUnavailable, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Request: req}
			resp.Write(down)
			return
		}
		dump, _ := httputil.DumpResponse(resp, true)
		resp.Body.Close()
		if _, err := down.Write(dump); err != nil || req.Close {
			return
		}
	}
}
