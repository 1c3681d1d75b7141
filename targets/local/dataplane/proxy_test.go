package dataplane

import (
	"context"
	"istio.io/istio/pkg/wellknown"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/httpbackend"
	"github.com/firstbyte/firstbyte/servers/mysqlserver"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
)

// fakeDecider answers every connection the same way; the proxy must carry
// that decision out on the real socket.
type fakeDecider struct {
	insp envoy.ListenerDecision
	act  Action
}

func (f fakeDecider) Inspect(netip.AddrPort) (envoy.ListenerDecision, error) { return f.insp, nil }
func (f fakeDecider) Route(dst netip.AddrPort, _ Detection, _ bool) (Action, error) {
	a := f.act
	if a.Kind == TCPProxy && !a.Upstream.IsValid() {
		a.Upstream = dst // passthrough to the original destination
	}
	return a, nil
}

type lab struct {
	client   *netlab.Host
	mysql    string
	collider string
	records  chan ConnRecord
}

// newLab builds world + client namespaces, a MySQL server and an HTTP
// backend in the world, and — for this test only — a minimal REDIRECT rule
// set in Istio's shape (proxy UID 1337 exempt, everything else to 15001).
// The local target programs Istio's own generated rules instead.
func newLab(t *testing.T, d Decider) *lab {
	t.Helper()
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		t.Skip("iptables-restore not installed (apt-get install iptables)")
	}
	n, err := netlab.New("dp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ip := netip.MustParseAddr("198.18.0.10")
	if err := n.AddWorldAddress(ip); err != nil {
		t.Fatal(err)
	}
	ln, err := n.World().Listen("tcp", "198.18.0.10:10000")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mysqlserver.New()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	hl, err := n.World().Listen("tcp", "198.18.0.10:8080")
	if err != nil {
		t.Fatal(err)
	}
	go httpbackend.Backend{Name: "collider", Port: 8080}.Serve(ctx, hl)

	client, err := n.AddHost("client")
	if err != nil {
		t.Fatal(err)
	}
	rules := "*nat\n:FB_OUTPUT - [0:0]\n-A OUTPUT -p tcp -j FB_OUTPUT\n" +
		"-A FB_OUTPUT -m owner --uid-owner 1337 -j RETURN\n-A FB_OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n"
	cmd := exec.Command("ip", "netns", "exec", client.Name, "iptables-restore")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore: %v: %s", err, out)
	}
	pl, err := client.Listen("tcp", "0.0.0.0:15001")
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{client: client, mysql: "198.18.0.10:10000", collider: "198.18.0.10:8080", records: make(chan ConnRecord, 16)}
	p := &Proxy{Decider: d, Dial: client.Dialer(1337), Record: func(r ConnRecord) { l.records <- r }}
	go p.Serve(pl)
	t.Cleanup(p.Close)
	return l
}

func (l *lab) probe(t *testing.T, budget time.Duration) probe.Observation {
	t.Helper()
	return probe.Run(context.Background(), probe.Config{
		Protocol: scenarios.MySQL, Addr: l.mysql, Budget: budget, Dial: l.client.Dialer(-1),
	})
}

func TestProxyPassthroughConnects(t *testing.T) {
	l := newLab(t, fakeDecider{insp: envoy.ListenerDecision{Listener: "virtualOutbound"}, act: Action{Kind: TCPProxy, Cluster: "PassthroughCluster"}})
	obs := l.probe(t, time.Second)
	if obs.Outcome != scenarios.Connected {
		t.Fatalf("passthrough: %s (%s)", obs.Outcome, obs.Detail)
	}
	r := <-l.records
	if r.Destination.String() != l.mysql || r.Action != TCPProxy || r.Upstream != l.mysql {
		t.Errorf("record %s", r)
	}
	if again := <-l.records; again.ID == r.ID {
		r = again // the update at the server's first byte
	} else {
		t.Errorf("a second record %s, want the first one's update", again)
	}
	// The per-phase timings of a relayed connection: the server's first
	// byte reached the emulator after the upstream dial, and before the
	// probe saw it (the record goes out first).
	if r.Accepted.IsZero() || r.Dial <= 0 || r.FirstServerByte < r.Dial || r.FirstServerByte > obs.Timings.FirstByte {
		t.Errorf("phase timings %s; probe first byte %s", r, obs.Timings.FirstByte)
	}
}

// The sidecar hang: an HTTP inspector with no timeout holds a server-first
// client, which sees TCP accepted and no byte.
func TestProxyInspectorHoldsServerFirstClient(t *testing.T) {
	l := newLab(t, fakeDecider{insp: envoy.ListenerDecision{Listener: "0.0.0.0_10000", ListenerFilters: envoy.ListenerFilters{Waiting: []string{wellknown.HTTPInspector}}}, act: Action{Kind: TCPProxy}})
	obs := l.probe(t, 300*time.Millisecond)
	if obs.Outcome != scenarios.Hung || obs.Timings.Connect == 0 || obs.ServerBytes != 0 {
		t.Fatalf("want hung with TCP accepted, got %s (%+v, %s)", obs.Outcome, obs.Timings, obs.Detail)
	}
	r := <-l.records
	if r.Waited < 250*time.Millisecond || r.ClientBytes != 0 || r.Action != "" {
		t.Errorf("record %s", r)
	}
}

// With a detection timeout and continue-on-timeout the connection goes on
// to the default chain: connected, late.
func TestProxyInspectorTimeoutConnectsLate(t *testing.T) {
	l := newLab(t, fakeDecider{insp: envoy.ListenerDecision{Listener: "0.0.0.0_10000", ListenerFilters: envoy.ListenerFilters{Waiting: []string{wellknown.HTTPInspector}, Timeout: 200 * time.Millisecond, ContinueOnTimeout: true}}, act: Action{Kind: TCPProxy}})
	obs := l.probe(t, time.Second)
	if obs.Outcome != scenarios.Connected || obs.Timings.FirstByte < 200*time.Millisecond {
		t.Fatalf("want a late connect, got %s first byte %s (%s)", obs.Outcome, obs.Timings.FirstByte, obs.Detail)
	}
	if r := <-l.records; !r.TimedOut {
		t.Errorf("record %s", r)
	}
}

func TestProxyCloseIsReset(t *testing.T) {
	l := newLab(t, fakeDecider{insp: envoy.ListenerDecision{Listener: "virtualOutbound"}, act: Action{Kind: Close, Cluster: "BlackHoleCluster"}})
	if obs := l.probe(t, time.Second); obs.Outcome != scenarios.Reset {
		t.Fatalf("blackhole: %s (%s)", obs.Outcome, obs.Detail)
	}
}

// The HTTP connection manager: the HTTP inspector sees the request, the
// request is routed and answered by the backend.
func TestProxyHTTP(t *testing.T) {
	var mu sync.Mutex
	var routed []string
	d := fakeDecider{insp: envoy.ListenerDecision{Listener: "0.0.0.0_8080", ListenerFilters: envoy.ListenerFilters{Waiting: []string{wellknown.HTTPInspector}}}, act: Action{Kind: HTTP, Route: func(r *http.Request) (string, netip.AddrPort, error) {
		mu.Lock()
		routed = append(routed, r.Host)
		mu.Unlock()
		return "outbound|8080||collider", netip.MustParseAddrPort("198.18.0.10:8080"), nil
	}}}
	l := newLab(t, d)
	c := &http.Client{Transport: &http.Transport{DialContext: l.client.Dialer(-1)}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + l.collider + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(routed) != 1 {
		t.Fatalf("status %d routed %v", resp.StatusCode, routed)
	}
	if r := <-l.records; r.Detection.AppProtocol != "http/1.1" || r.Action != HTTP {
		t.Errorf("record %s", r)
	}
}

var _ net.Conn = (*prefixConn)(nil)
