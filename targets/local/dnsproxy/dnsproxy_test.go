package dnsproxy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// start serves s on loopback (UDP and TCP on one port) and returns where.
func start(t *testing.T, s *Server) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	ln, err := net.Listen("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(pc, ln)
	t.Cleanup(func() { s.Close() })
	return a
}

// The agent-like server answers its table's names itself and forwards
// the rest to the upstream, which answers from its own table or NXDOMAIN;
// a resolver pointed at it (the pod's resolver) sees those answers, over
// UDP.
func TestTableForwardAndResolver(t *testing.T) {
	allocated, public := netip.MustParseAddr("240.240.0.1"), netip.MustParseAddr("198.18.0.10")
	cluster := &Server{Name: "cluster", Table: func() Table { return Table{"db.example.test": {public}, "other.example.test": {public}} }}
	up := start(t, cluster)
	var d net.Dialer
	agent := &Server{Name: "agent", Table: func() Table { return Table{"db.example.test": {allocated}} }, Upstream: up, Dial: d.DialContext}
	at := start(t, agent)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := Resolver(at, d.DialContext)
	for name, want := range map[string]netip.Addr{"db.example.test.": allocated, "other.example.test.": public} {
		got, err := r.LookupNetIP(ctx, "ip4", name)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s → %v, %v; want %s", name, got, err, want)
		}
	}
	if got, err := r.LookupNetIP(ctx, "ip4", "nowhere.example.test."); err == nil {
		t.Errorf("nowhere.example.test → %v, want NXDOMAIN", got)
	}
	log := strings.Join(agent.Log(), "\n")
	if !strings.Contains(log, "from the table: [240.240.0.1]") || !strings.Contains(log, "forwarded to "+up.String()+" (udp), which answered NOERROR [198.18.0.10]") {
		t.Errorf("agent log:\n%s", log)
	}

	// DialName resolves with the resolver and dials the first address;
	// an address is dialled as is.
	var dialled []string
	dial := DialName(r, func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		return nil, nil
	}, nil)
	dial(ctx, "tcp", "db.example.test:3306")
	dial(ctx, "tcp", "10.0.0.1:3306")
	if strings.Join(dialled, " ") != "240.240.0.1:3306 10.0.0.1:3306" {
		t.Errorf("dialled %v", dialled)
	}
}
