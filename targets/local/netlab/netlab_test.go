package netlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func needRoot(t *testing.T) {
	t.Helper()
	if err := CheckPrivileges(); err != nil {
		t.Skip(err)
	}
}

func namespaces(t *testing.T) []string {
	t.Helper()
	entries, _ := os.ReadDir(NetnsDir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A host reaches a server on a world address through its veth, and Close
// leaves nothing behind.
func TestHostReachesWorld(t *testing.T) {
	needRoot(t)
	n, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	server := netip.MustParseAddr("198.18.0.10")
	if err := n.AddWorldAddress(server); err != nil {
		t.Fatal(err)
	}
	ln, err := n.World().Listen("tcp", "198.18.0.10:10000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello " + c.RemoteAddr().(*net.TCPAddr).IP.String()))
			c.Close()
		}
	}()
	h, err := n.AddHost("client")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := h.Do(func() error {
		c, err := net.Dial("tcp", "198.18.0.10:10000")
		if err != nil {
			return err
		}
		defer c.Close()
		got, err = io.ReadAll(c)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := "hello " + h.IP.String(); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The host's namespace is really separate: the world address is not
	// one of its own (checked without sending anything outside).
	if err := h.Do(func() error {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.Equal(net.IP(server.AsSlice())) {
				t.Errorf("world address %s is local in the host namespace", server)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	names := []string{n.World().Name, h.Name}
	ln.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if slices.Contains(namespaces(t), name) {
			t.Errorf("%s left behind", name)
		}
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAddressOutsideRangeRefused(t *testing.T) {
	needRoot(t)
	n, err := New("r")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.AddWorldAddress(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Fatal("accepted an address outside 198.18.0.0/16")
	}
}

// Sweep removes namespaces of dead runs and keeps live ones.
func TestSweep(t *testing.T) {
	needRoot(t)
	stale := NamePrefix + "999999999-x-world" // no such pid
	mine := NamePrefix + "1-x-world"          // pid 1 is always alive
	for _, name := range []string{stale, mine} {
		if err := onLockedThread(func() error {
			h, err := netns.NewNamed(name)
			if err == nil {
				h.Close()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	defer netns.DeleteNamed(mine)
	removed, err := Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, stale) || slices.Contains(removed, mine) {
		t.Errorf("removed %v", removed)
	}
	if slices.Contains(namespaces(t), stale) {
		t.Error("stale namespace still present")
	}
}

func TestOwnerPID(t *testing.T) {
	for name, want := range map[string]int{"fb-123-0-world": 123, "fb-x-world": 0, "other-1-a": 0} {
		got, ok := ownerPID(name)
		if got != want || ok != (want != 0) {
			t.Errorf("%s: %d %v", name, got, ok)
		}
	}
}

// A pod's own address is reachable from another host through the world,
// and inside the pod a socket bound to 127.0.0.6 (Istio's inbound
// upstream_bind_config) reaches the pod address over lo.
func TestPodAddress(t *testing.T) {
	needRoot(t)
	n, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	podIP := netip.MustParseAddr("198.18.0.10")
	pod, err := n.AddPod("server", podIP)
	if err != nil {
		t.Fatal(err)
	}
	if pod.IP != podIP {
		t.Fatalf("pod IP %s, want %s", pod.IP, podIP)
	}
	ln, err := pod.Listen("tcp", "0.0.0.0:10000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("from " + c.RemoteAddr().(*net.TCPAddr).IP.String()))
			c.Close()
		}
	}()
	client, err := n.AddHost("client")
	if err != nil {
		t.Fatal(err)
	}
	read := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) string {
		t.Helper()
		c, err := dial(context.Background(), "tcp", "198.18.0.10:10000")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read(client.Dialer(-1)), "from "+client.IP.String(); got != want {
		t.Errorf("from the client host: %q, want %q", got, want)
	}
	if got, want := read(pod.DialerFrom(-1, netip.MustParseAddr("127.0.0.6"))), "from 127.0.0.6"; got != want {
		t.Errorf("inside the pod, bound to 127.0.0.6: %q, want %q", got, want)
	}
	if _, err := n.AddPod("elsewhere", netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("AddPod accepted an address outside the local range")
	}
}

// Both ends of a host's veth know each other's MAC from the start: no
// connection waits for (or loses) an ARP exchange.
func TestNeighboursArePinned(t *testing.T) {
	needRoot(t)
	n, err := New("t")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, err := n.AddHost("client")
	if err != nil {
		t.Fatal(err)
	}
	permanent := func(in *Host, ip netip.Addr) error {
		return in.Do(func() error {
			neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, nb := range neighs {
				if nb.IP.Equal(net.IP(ip.AsSlice())) && nb.State == netlink.NUD_PERMANENT && len(nb.HardwareAddr) > 0 {
					return nil
				}
			}
			return fmt.Errorf("no permanent neighbour entry for %s in %s: %v", ip, in.Name, neighs)
		})
	}
	if err := permanent(h, h.Gateway); err != nil {
		t.Error(err)
	}
	if err := permanent(n.World(), h.IP); err != nil {
		t.Error(err)
	}
}
