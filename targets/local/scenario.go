package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/dnsserver"
	"github.com/firstbyte/firstbyte/servers/httpbackend"
	"github.com/firstbyte/firstbyte/servers/mongoserver"
	"github.com/firstbyte/firstbyte/servers/mysqlserver"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/servers/smtpserver"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"github.com/firstbyte/firstbyte/targets/local/upstream"
)

// noCapture is the nat table of a pod without a sidecar: no istio-init,
// no rules.
const noCapture = "*nat\nCOMMIT\n"

// Envoy's outbound capture port and the proxy UID Istio's iptables rules
// exempt (the injector's defaults; the emulator's upstream sockets carry
// this UID, see netlab.Host.Dialer).
const (
	outboundPort = 15001
	proxyUID     = 1337
)

// scenarioRun is one deployed scenario: its namespaces, servers and
// emulated sidecar.
type scenarioRun struct {
	net     *netlab.Network
	client  *netlab.Host
	control *netlab.Host
	ctx     context.Context
	cancel  context.CancelFunc
	servers sync.WaitGroup
	mailbox *smtpserver.Mailbox
	proxy   *dataplane.Proxy
	// server is the server pod's namespace and inbound its emulated
	// sidecar, when the server runs one (inbound family); nil otherwise.
	server  *netlab.Host
	inbound *dataplane.Proxy
	// listening are the world addresses with a server, so a remediation
	// that moves the collider only adds what is missing.
	listening map[netip.AddrPort]bool
	// upstream starts Debian's servers (SERVERS=upstream; nil: embedded);
	// instances are the run's, mta its Exim for delivery checks.
	upstream  *upstream.Servers
	instances []*upstream.Instance
	mta       *upstream.Instance

	mu sync.Mutex
	// clientDecisions and serverDecisions are what the emulated sidecars
	// look up (decided before the wire); clientCfg and serverCfg the
	// configurations they were decided from, for evidence.
	clientDecisions, serverDecisions *decisionTable
	clientCfg, serverCfg             *envoy.Config
	rules                            string
	serverRules                      string
	records                          []sideRecord
	probes                           []probeRecord
	// dns is the DNS of a scenario that dials a name (dns.go), nil
	// otherwise; resolutions are the client's lookups.
	dns         *dnsRun
	resolutions []string
}

// probeRecord is one probe with the wall-clock time it started, so its
// timings line up with the emulator's connection records in evidence.
type probeRecord struct {
	what  string
	start time.Time
	obs   probe.Observation
}

func (p probeRecord) String() string {
	t := p.obs.Timings
	return fmt.Sprintf("%s: started %s, %s, connect +%s, first server byte +%s, done +%s (%s)",
		p.what, p.start.UTC().Format("15:04:05.000000"), p.obs.Outcome, t.Connect, t.FirstByte, t.Done, p.obs.Detail)
}

// Which emulated sidecar handled a connection.
const (
	clientSide = "client sidecar"
	serverSide = "server sidecar"
)

// sideRecord is a connection record with the sidecar that made it.
type sideRecord struct {
	side string
	dataplane.ConnRecord
}

func (s sideRecord) String() string { return s.side + ": " + s.ConnRecord.String() }

// current is the Decider a run's emulated sidecar asks: the run swaps the
// decisions under it (Remediate, Revert), as istiod pushes to Envoy, and
// each connection reads the table in force.
type current struct {
	mu *sync.Mutex
	t  **decisionTable
}

func (c current) get() *decisionTable {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.t
}

func (c current) Inspect(dst netip.AddrPort) (envoy.ListenerDecision, error) {
	return c.get().Inspect(dst)
}

func (c current) Route(dst netip.AddrPort, det dataplane.Detection, timedOut bool) (dataplane.Action, error) {
	return c.get().Route(dst, det, timedOut)
}

// record keeps a connection record, replacing an earlier version of it
// (a relay updates its record at the server's first byte).
func (r *scenarioRun) record(side string, rec dataplane.ConnRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.records) - 1; i >= 0; i-- {
		if r.records[i].side == side && r.records[i].ID == rec.ID {
			r.records[i].ConnRecord = rec
			return
		}
	}
	r.records = append(r.records, sideRecord{side, rec})
}

func (r *scenarioRun) close() error {
	for _, p := range []*dataplane.Proxy{r.proxy, r.inbound} {
		if p != nil {
			p.Close()
		}
	}
	r.dns.close()
	r.cancel()
	r.servers.Wait()
	return errors.Join(r.closeInstances(), r.net.Close())
}

// baseBundle is the bundle as it stands before the remediation.
func baseBundle(b *fixtures.Bundle) *fixtures.Bundle {
	base := *b
	base.Final, base.MeshConfig, base.Mesh, base.ClientAnnotations = b.Base, b.BaseMeshConfig, b.BaseMesh, b.BaseAnnotations
	return &base
}

// Deploy builds the scenario's namespaces, starts its servers in the
// world, programs Istio's iptables rules for the client pod and starts the
// emulated sidecar with the listeners Istio generates for the Base state.
func (l *Local) Deploy(ctx context.Context, b *fixtures.Bundle) error {
	l.mu.Lock()
	if _, dup := l.runs[b.Scenario.ID]; dup {
		l.mu.Unlock()
		return fmt.Errorf("scenario %s is already deployed", b.Scenario.ID)
	}
	l.mu.Unlock()
	n, err := netlab.New(strconv.FormatInt(l.seq.Add(1), 10))
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &scenarioRun{net: n, ctx: rctx, cancel: cancel, mailbox: smtpserver.NewMailbox(), listening: map[netip.AddrPort]bool{}, upstream: l.upstream}
	if err := l.deploy(r, b); err != nil {
		return errors.Join(fmt.Errorf("deploying %s on the local target: %w", b.Scenario.ID, err), r.close())
	}
	l.mu.Lock()
	l.runs[b.Scenario.ID] = r
	l.mu.Unlock()
	return nil
}

func (l *Local) deploy(r *scenarioRun, b *fixtures.Bundle) error {
	base := baseBundle(b)
	server, err := predict.PodOf(base, predict.ServerPod)
	if err != nil {
		return err
	}
	world := []netip.Addr{fixtures.WorldColliderVIP, fixtures.WorldColliderPodIP}
	if !server.Injected {
		// Else the server pod has its own namespace at fixtures.WorldServerIP, and the
		// world DNATs the ClusterIP to it instead of serving it.
		world = append(world, fixtures.WorldServerIP, fixtures.WorldServerClusterIP)
	}
	for _, ip := range world {
		if err := r.net.AddWorldAddress(ip); err != nil {
			return err
		}
	}
	if r.client, err = r.net.AddPod("client", fixtures.WorldClientPodIP); err != nil {
		return err
	}
	if r.control, err = r.net.AddPod("control", fixtures.WorldControlPodIP); err != nil {
		return err
	}
	if server.Injected {
		if err := l.deployServerPod(r, base); err != nil {
			return err
		}
	}
	if err := r.startServers(b); err != nil {
		return err
	}
	if err := r.deployDNS(b); err != nil {
		return err
	}
	if err := l.configure(r, base); err != nil {
		return err
	}
	ln, err := r.client.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", outboundPort))
	if err != nil {
		return fmt.Errorf("emulated sidecar listener: %w", err)
	}
	r.proxy = &dataplane.Proxy{Decider: current{&r.mu, &r.clientDecisions}, Dial: r.client.Dialer(proxyUID), Record: func(rec dataplane.ConnRecord) { r.record(clientSide, rec) }}
	go r.proxy.Serve(ln)
	return nil
}

// configure points the emulated sidecar at the listeners Istio generates
// for the bundle and programs the iptables rules istio-iptables builds for
// its client annotations. Both take effect before it returns: the local
// equivalent of waiting until the sidecar's config shows the change.
func (l *Local) configure(r *scenarioRun, b *fixtures.Bundle) error {
	client, err := predict.PodOf(b, predict.ClientPod)
	if err != nil {
		return err
	}
	// A client without a sidecar has no istio-init: no rules, and the
	// emulated client sidecar is never reached (it refuses, should
	// anything arrive).
	var cfg *envoy.Config
	rules := noCapture
	decisions := refusingTable(clientSide, fmt.Errorf("%w: a connection reached the client sidecar's port, but the client pod has no sidecar", dataplane.ErrNotEmulated))
	if client.Injected {
		if cfg, err = l.predictor.Sidecar(b); err != nil {
			return err
		}
		if rules, err = capture.RestoreRules(capture.CapturePod{Annotations: b.ClientAnnotations, IP: r.client.IP, Nameservers: predict.Nameservers(b.Topology)}); err != nil {
			return err
		}
		dsts, reqs, err := plannedDestinations(b)
		if err != nil {
			return err
		}
		// A client that dials a name connects to what it resolves to.
		resolved, err := l.resolvedDestination(b)
		if err != nil {
			return err
		}
		if !slices.Contains(dsts, resolved) {
			dsts = append(dsts, resolved)
		}
		// The dynamic forward proxy (ALLOW_ANY_DYNAMIC_DNS) dials the
		// request's Host: the collider Service's cluster DNS record.
		names := map[string]netip.Addr{}
		if host, _, err := net.SplitHostPort(b.ColliderAddr); err == nil {
			if vip, err := colliderVIP(b); err == nil {
				names[host] = vip.Addr() // the Service's cluster DNS record
			}
		}
		decisions = decide(clientSide, outboundPlanner{cfg: cfg, plaintextPeers: []netip.Addr{fixtures.WorldColliderPodIP}, names: names}, dsts, reqs)
	}
	r.mu.Lock()
	same := rules == r.rules
	r.mu.Unlock()
	if !same {
		if err := restore(r.client, rules); err != nil {
			return fmt.Errorf("programming istio-iptables' rules for the client pod: %w", err)
		}
	}
	if err := l.configureServer(r, b, decisions); err != nil {
		return err
	}
	if err := r.startServers(b); err != nil {
		return err
	}
	r.mu.Lock()
	r.clientDecisions, r.clientCfg, r.rules = decisions, cfg, rules
	r.mu.Unlock()
	return r.configureAgentDNS(b, cfg)
}

// colliderCheckPath is the path of ColliderHTTP's request.
const colliderCheckPath = predict.ColliderCheckPath

// plannedDestinations are what the scenario's clients send through the
// client pod: the probe's connection to the server and the collider
// check's HTTP request. The emulated client sidecar decides these, and
// only these, before the wire.
func plannedDestinations(b *fixtures.Bundle) ([]netip.AddrPort, []httpRequest, error) {
	dst, err := predict.Destination(b)
	if err != nil {
		return nil, nil, err
	}
	dsts := []netip.AddrPort{dst}
	var reqs []httpRequest
	if b.ColliderAddr != "" {
		collider, err := colliderVIP(b)
		if err != nil {
			return nil, nil, err
		}
		dsts = append(dsts, collider)
		reqs = append(reqs, httpRequest{Destination: collider, Host: b.ColliderAddr, Path: colliderCheckPath})
	}
	return dsts, reqs, nil
}

// colliderVIP is the address ColliderHTTP dials: the collider Service's
// ClusterIP (a headless Service's pod IP) on its port, as predict's
// collider check walks it.
func colliderVIP(b *fixtures.Bundle) (netip.AddrPort, error) {
	return predict.ColliderCheckDestination(b)
}

// startServers starts the protocol server on its pod IP (and, in the mesh,
// on its ClusterIP: there is no kube-proxy, so the world serves the VIP
// directly) and the collider's HTTP backend, for every address the bundle
// uses that has no server yet.
func (r *scenarioRun) startServers(b *fixtures.Bundle) error {
	s := b.Scenario
	var addrs []netip.AddrPort
	if r.server == nil { // else the server pod serves (deployServerPod)
		addrs = append(addrs, netip.AddrPortFrom(fixtures.WorldServerIP, uint16(s.Port)))
		if s.Placement == scenarios.InMesh {
			addrs = append(addrs, netip.AddrPortFrom(fixtures.WorldServerClusterIP, uint16(s.Port)))
		}
	}
	if err := r.startProtocol(r.net.World(), s.Protocol, addrs); err != nil {
		return err
	}
	if b.ColliderAddr == "" {
		return nil
	}
	_, p, _ := net.SplitHostPort(b.ColliderAddr)
	port, _ := strconv.Atoi(p)
	backend := httpbackend.Backend{Name: "collider", Port: port}
	for _, ip := range []netip.Addr{fixtures.WorldColliderVIP, fixtures.WorldColliderPodIP} {
		if err := r.serve(r.net.World(), netip.AddrPortFrom(ip, uint16(port)), func(ln net.Listener) error { return backend.Serve(r.ctx, ln) }); err != nil {
			return err
		}
	}
	return nil
}

// serve starts a server on a in host h, once.
func (r *scenarioRun) serve(h *netlab.Host, a netip.AddrPort, serve func(net.Listener) error) error {
	if r.listening[a] {
		return nil
	}
	ln, err := h.Listen("tcp", a.String())
	if err != nil {
		return fmt.Errorf("server on %s in %s: %w", a, h.Name, err)
	}
	r.listening[a] = true
	r.servers.Add(1)
	go func() {
		defer r.servers.Done()
		serve(ln)
	}()
	return nil
}

func serveProtocol(ctx context.Context, p scenarios.Protocol, mb *smtpserver.Mailbox, ln net.Listener) error {
	switch p {
	case scenarios.MySQL:
		s, err := mysqlserver.New()
		if err != nil {
			ln.Close()
			return err
		}
		return s.Serve(ctx, ln)
	case scenarios.SMTP:
		return smtpserver.New(mb).Serve(ctx, ln)
	case scenarios.Mongo:
		return mongoserver.New().Serve(ctx, ln)
	case scenarios.DNS:
		return dnsserver.New().Serve(ctx, ln)
	}
	ln.Close()
	return fmt.Errorf("no server for protocol %s", p)
}

// Remediate switches the emulated sidecar and the iptables rules to the
// Final state.
func (l *Local) Remediate(ctx context.Context, b *fixtures.Bundle) error {
	r, err := l.run(b)
	if err != nil {
		return err
	}
	return l.configure(r, b)
}

// Revert switches back to the Base state.
func (l *Local) Revert(ctx context.Context, b *fixtures.Bundle) error {
	r, err := l.run(b)
	if err != nil {
		return err
	}
	return l.configure(r, baseBundle(b))
}

// Probe runs the real client inside the client namespace: its connection
// is captured by the iptables rules and handled by the emulated sidecar.
func (l *Local) Probe(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	r, err := l.run(b)
	if err != nil {
		return probe.Observation{}, err
	}
	dst, err := predict.Destination(b)
	if err != nil {
		return probe.Observation{}, err
	}
	r.mu.Lock()
	seen := len(r.records)
	r.mu.Unlock()
	addr, dial := r.probeTarget(b, dst)
	obs, err := r.probeWith(ctx, b, "probe", addr, dial, budget)
	if err != nil {
		return obs, err
	}
	// A connection the emulator refused was closed because it could not
	// act as Envoy; what the client saw is not an observation of Envoy.
	// (Refusals are recorded before the close, so they are here.)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records[seen:] {
		if rec.Refused {
			return obs, fmt.Errorf("the emulated %s could not carry out Envoy's decision for the probe's connection (%s): this scenario needs kind or cluster", rec.side, rec.ConnRecord)
		}
	}
	return obs, nil
}

// Control probes the same server on a path without a sidecar: from the
// control host at the address the client dials, or, for a server with its
// own sidecar, from inside its pod at 127.0.0.1, which Istio's rules never
// redirect (as the kind target does).
func (l *Local) Control(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	r, err := l.run(b)
	if err != nil {
		return probe.Observation{}, err
	}
	if r.server != nil {
		return r.probe(ctx, b, "control", r.server, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(b.Scenario.Port)), budget)
	}
	dst, err := predict.Destination(b)
	if err != nil {
		return probe.Observation{}, err
	}
	return r.probe(ctx, b, "control", r.control, dst, budget)
}

func (r *scenarioRun) probe(ctx context.Context, b *fixtures.Bundle, what string, from *netlab.Host, dst netip.AddrPort, budget time.Duration) (probe.Observation, error) {
	return r.probeWith(ctx, b, what, dst.String(), from.Dialer(-1), budget)
}

// probeWith runs the protocol's probe to addr (an address, or a name the
// dial function resolves) with dial.
func (r *scenarioRun) probeWith(ctx context.Context, b *fixtures.Bundle, what string, addr string, dial probe.DialFunc, budget time.Duration) (probe.Observation, error) {
	cfg := probe.Config{Protocol: b.Scenario.Protocol, Addr: addr, Budget: budget, Dial: dial}
	cfg.User, cfg.Password = r.credentials(b.Scenario.Protocol)
	if b.Scenario.Protocol == scenarios.SMTP {
		// Delivery is confirmed on the server itself, in process.
		id := make([]byte, 8)
		rand.Read(id)
		cfg.MessageID = "<" + hex.EncodeToString(id) + "@local.firstbyte.test>"
		cfg.ConfirmSMTP = func(ctx context.Context, messageID string) error {
			if r.mta != nil {
				return r.mta.Confirm(ctx, messageID)
			}
			if _, ok := r.mailbox.Find(messageID); !ok {
				return fmt.Errorf("message %s is not in the server's mailbox", messageID)
			}
			return nil
		}
	}
	start := time.Now()
	obs := probe.Run(ctx, cfg)
	r.mu.Lock()
	r.probes = append(r.probes, probeRecord{what: what + " to " + addr, start: start, obs: obs})
	r.mu.Unlock()
	return obs, nil
}

// ColliderHTTP sends one GET to the collider's Service from the client,
// through the emulated sidecar, with the Service's name as Host.
func (l *Local) ColliderHTTP(ctx context.Context, b *fixtures.Bundle) error {
	if b.ColliderAddr == "" {
		return nil
	}
	r, err := l.run(b)
	if err != nil {
		return err
	}
	vip, err := colliderVIP(b)
	if err != nil {
		return err
	}
	url := "http://" + vip.String() + colliderCheckPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Host = b.ColliderAddr
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: r.client.Dialer(-1), DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("collider HTTP check %s (Host %s): %w", url, req.Host, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"collider"`)) {
		return fmt.Errorf("collider HTTP check %s (Host %s): %s %s", url, req.Host, resp.Status, body)
	}
	return nil
}

// Evidence writes what explains the scenario's result: the emulated
// sidecar's configuration as an Envoy config_dump, the explain trace, the
// iptables rules in force, the emulator's connection log and the rendered
// manifests.
func (l *Local) Evidence(ctx context.Context, b *fixtures.Bundle, dir string) error {
	r, err := l.run(b)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.mu.Lock()
	cfg, rules := r.clientCfg, r.rules
	serverCfg, serverRules := r.serverCfg, r.serverRules
	var conns, probes strings.Builder
	for _, rec := range r.records {
		conns.WriteString(rec.String() + "\n")
	}
	for _, p := range r.probes {
		probes.WriteString(p.String() + "\n")
	}
	r.mu.Unlock()
	files := map[string][]byte{
		"iptables-rules.txt":  []byte(rules),
		"emulator-conns.txt":  []byte(conns.String()),
		"probes.txt":          []byte(probes.String()),
		"manifests-base.yaml": fixtures.Manifest(b.Base),
		"manifests.yaml":      fixtures.Manifest(b.Final),
	}
	if d := r.dnsEvidence(); d != "" {
		files["dns.txt"] = []byte(d)
	}
	if cfg != nil {
		if dump, err := cfg.ConfigDump(); err == nil {
			files["config_dump.json"] = dump
		}
	}
	if r.server != nil {
		files["server-iptables-rules.txt"] = []byte(serverRules)
		files["kube-proxy-rules.txt"] = []byte(kubeProxyRules(b))
		if dump, err := serverCfg.ConfigDump(); err == nil {
			files["server_config_dump.json"] = dump
		}
		if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r.server.Name, "iptables-save").CombinedOutput(); err == nil {
			files["server-iptables-save.txt"] = out
		}
	}
	if pr, err := l.predictor.PredictBundle(b); err == nil {
		files["explain.txt"] = []byte(pr.String())
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r.client.Name, "iptables-save").CombinedOutput(); err == nil {
		files["iptables-save.txt"] = out
	}
	var errs []error
	for name, data := range files {
		errs = append(errs, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return errors.Join(errs...)
}

// Release tears one scenario down as soon as the suite is done with it, so
// a long table does not hold every namespace until the end.
func (l *Local) Release(ctx context.Context, b *fixtures.Bundle) error {
	l.mu.Lock()
	r, ok := l.runs[b.Scenario.ID]
	delete(l.runs, b.Scenario.ID)
	l.mu.Unlock()
	if !ok {
		return nil
	}
	return r.close()
}

// Describe says what the emulated sidecar did with the connections to the
// scenario's server, in Envoy's terms.
func (l *Local) Describe(b *fixtures.Bundle) string {
	r, err := l.run(b)
	if err != nil {
		return ""
	}
	dst, err := l.resolvedDestination(b)
	if err != nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		if rec.Destination == dst || rec.side == serverSide && rec.Destination.Port() == dst.Port() {
			out = append(out, rec.String())
		}
	}
	if len(out) > 0 {
		return strings.Join(out, "; ")
	}
	// No record: either not captured, or the emulator has not finished
	// with it yet; say only what Istio's rules decide.
	if r.rules == noCapture && r.server == nil {
		return "the client pod has no sidecar and the server none: nothing captures the connection"
	}
	c, err := capture.CaptureOutbound(capture.CapturePod{Annotations: b.ClientAnnotations, IP: r.client.IP}, dst, 0)
	if err == nil && !c.Redirected && r.server == nil {
		return "not captured: istio-iptables' rules let it bypass the sidecar"
	}
	return ""
}
