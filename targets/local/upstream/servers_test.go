package upstream

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
)

func TestUpstreamVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1:10.11.19-0+deb12u1": "10.11.19",
		"4.96-15+deb12u11":     "4.96",
		"4.96":                 "4.96",
	} {
		if got := upstreamVersion(in); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServersInANamespace starts Debian's MariaDB and Exim in a fresh
// world namespace on two addresses and runs the real probes against them:
// MySQL login + SELECT 1 with the run's password, and an SMTP transaction
// whose delivery is confirmed in Exim's mailbox. Root and the packages
// (installed on demand) are needed; without root it is skipped.
func TestServersInANamespace(t *testing.T) {
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := New(ctx, func(l string) { t.Log(l) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.MariaDB, "mariadb ") || !strings.HasPrefix(s.Exim, "exim ") {
		t.Errorf("implementations %q, %q", s.MariaDB, s.Exim)
	}
	n, err := netlab.New("uptest")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.20")}
	for _, a := range addrs {
		if err := n.AddWorldAddress(a); err != nil {
			t.Fatal(err)
		}
	}
	client, err := n.AddHost("client")
	if err != nil {
		t.Fatal(err)
	}
	w := n.World()

	db, err := s.StartMariaDB(ctx, w.Name, addrs, 3306)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mta, err := s.StartExim(ctx, w.Name, addrs, 25, w.Dialer(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer mta.Close()

	for _, a := range addrs {
		obs := probe.Run(ctx, probe.Config{Protocol: scenarios.MySQL, Addr: netip.AddrPortFrom(a, 3306).String(), Dial: client.Dialer(-1), User: User, Password: s.Password()})
		if obs.Outcome != scenarios.Connected {
			t.Errorf("mysql at %s: %s: %s", a, obs.Outcome, obs.Detail)
		}
		wrong := probe.Run(ctx, probe.Config{Protocol: scenarios.MySQL, Addr: netip.AddrPortFrom(a, 3306).String(), Dial: client.Dialer(-1), User: User, Password: "wrong"})
		if wrong.Outcome != scenarios.ProtocolError || !strings.Contains(wrong.Detail, "Access denied") {
			t.Errorf("mysql at %s with a wrong password: %s: %s (want MariaDB's access denied)", a, wrong.Outcome, wrong.Detail)
		}
		obs = probe.Run(ctx, probe.Config{Protocol: scenarios.SMTP, Addr: netip.AddrPortFrom(a, 25).String(), Dial: client.Dialer(-1), ConfirmSMTP: mta.Confirm})
		if obs.Outcome != scenarios.Connected || !strings.Contains(obs.Detail, "confirmed") {
			t.Errorf("smtp at %s: %s: %s", a, obs.Outcome, obs.Detail)
		}
	}
	if err := mta.Confirm(ctx, "<never-sent@firstbyte.test>"); err == nil {
		t.Error("Confirm found a message that was never sent")
	}
	dir := db.dir
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.exited:
	default:
		t.Error("MariaDB still running after Close")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("instance folder %s left after Close", dir)
	}
}
