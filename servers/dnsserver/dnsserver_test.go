package dnsserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A real miekg/dns client over TCP gets the zone's answers, several on one
// connection.
func TestAnswersOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := New()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	conn, err := c.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg).SetQuestion(name, qtype)
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil {
			t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
		}
		return r
	}
	if r := ask(AddressName, dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != Address.String() || !r.Authoritative {
		t.Errorf("A %s: %v", AddressName, r)
	}
	if r := ask("n0nce."+EchoZone, dns.TypeTXT); len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "n0nce" {
		t.Errorf("TXT echo: %v", r)
	}
	if r := ask("nowhere."+Zone, dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if r := ask(AddressName, dns.TypeMX); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("MX %s: %v, want NODATA", AddressName, r)
	}
	if got := srv.Queries(); got != 4 {
		t.Errorf("Queries() = %d, want 4", got)
	}
}
