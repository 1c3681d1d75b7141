// Package netlab builds the local target's network: named Linux network
// namespaces standing in for pods, joined by veth pairs to one "world"
// namespace that holds every server address. It only ever uses addresses in
// 198.18.0.0/15 (RFC 2544, reserved for benchmarking test networks) and only
// inside namespaces it created, and it removes everything it made: on
// Close, and at the next start through Sweep for runs that were killed.
//
// Names are fb-<pid>-<role>, so Sweep can tell a live run's namespaces from
// a dead one's by the pid.
package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamePrefix starts every namespace netlab creates.
const NamePrefix = "fb-"

// NetnsDir is where iproute2 (and netlab) bind-mount named namespaces.
const NetnsDir = "/var/run/netns"

var (
	// WorldPrefix holds the server-side addresses (on the world's lo).
	WorldPrefix = netip.MustParsePrefix("198.18.0.0/16")
	// linkPrefix is carved into /30s, one per host veth pair.
	linkPrefix = netip.MustParsePrefix("198.19.0.0/16")
)

// CheckPrivileges fails with the fix when the process cannot create
// network namespaces.
func CheckPrivileges() error {
	if os.Geteuid() != 0 {
		return errors.New("the local target needs root (it creates network namespaces and iptables rules): run it as root, e.g. sudo make e2e TARGET=local, or use TARGET=predict, which needs nothing")
	}
	return nil
}

// Network is one run's set of namespaces.
type Network struct {
	prefix string
	world  *Host

	mu    sync.Mutex
	hosts []*Host
	next  int
}

// Host is a network namespace with one veth into the world (the world
// itself has none).
type Host struct {
	// Name is the namespace name (ip netns list shows it).
	Name string
	// IP is the host's own address (zero for the world).
	IP netip.Addr
	// Gateway is the world side of the host's veth.
	Gateway netip.Addr
	handle  netns.NsHandle
}

// New creates the run's world namespace. run distinguishes concurrent
// networks of one process (e.g. one per parallel suite process).
func New(run string) (*Network, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	n := &Network{prefix: fmt.Sprintf("%s%d-%s-", NamePrefix, os.Getpid(), run)}
	w, err := n.newNamespace("world")
	if err != nil {
		return nil, err
	}
	n.world = w
	if err := w.Do(func() error { return linkUp("lo") }); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// World is the namespace that holds every server address.
func (n *Network) World() *Host { return n.world }

func (n *Network) newNamespace(role string) (*Host, error) {
	name := n.prefix + role
	var h netns.NsHandle
	// netns.NewNamed switches the calling thread into the new namespace;
	// lock the thread and switch back so the caller's thread is unchanged.
	err := onLockedThread(func() error {
		var err error
		h, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	host := &Host{Name: name, handle: h}
	n.mu.Lock()
	n.hosts = append(n.hosts, host)
	n.mu.Unlock()
	return host, nil
}

// AddWorldAddress puts an address on the world's lo, so servers can listen
// on it and every host can reach it through its veth.
func (n *Network) AddWorldAddress(ip netip.Addr) error {
	if !WorldPrefix.Contains(ip) {
		return fmt.Errorf("address %s is outside the local target's range %s", ip, WorldPrefix)
	}
	return n.world.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		err = netlink.AddrAdd(lo, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(ip, 32))})
		if errors.Is(err, syscall.EEXIST) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("adding %s to the world namespace: %w", ip, err)
		}
		return nil
	})
}

// AddHost creates a namespace joined to the world by a veth pair, with a
// default route through the world.
func (n *Network) AddHost(role string) (*Host, error) {
	n.mu.Lock()
	idx := n.next
	n.next++
	n.mu.Unlock()
	if idx >= 1<<14 {
		return nil, fmt.Errorf("too many hosts in one network (%d)", idx)
	}
	base := linkPrefix.Addr().As4()
	off := idx * 4
	base[2], base[3] = byte(off>>8), byte(off)
	gw := netip.AddrFrom4(base).Next()
	ip := gw.Next()

	h, err := n.newNamespace(role)
	if err != nil {
		return nil, err
	}
	h.IP, h.Gateway = ip, gw
	worldSide := "h" + strconv.Itoa(idx)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: worldSide, Namespace: netlink.NsFd(n.world.handle)},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(h.handle),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("creating veth for %s: %w", h.Name, err)
	}
	if err := n.world.Do(func() error {
		return addrUp(worldSide, netip.PrefixFrom(gw, 30))
	}); err != nil {
		return nil, fmt.Errorf("world side of %s: %w", h.Name, err)
	}
	if err := h.Do(func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		if err := addrUp("eth0", netip.PrefixFrom(ip, 30)); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Gw: net.IP(gw.AsSlice())})
	}); err != nil {
		return nil, fmt.Errorf("host side of %s: %w", h.Name, err)
	}
	if err := n.pinNeighbours(h, worldSide); err != nil {
		return nil, fmt.Errorf("neighbour entries of %s: %w", h.Name, err)
	}
	return h, nil
}

// pinNeighbours writes permanent neighbour (ARP) entries for both ends of
// a host's veth, so no connection waits for address resolution. Why: on a
// fresh veth under load the first ARP exchange is sometimes lost, and the
// kernel retries it only after neigh retrans_time (1 s); the queued SYN
// then leaves 1.01 s late, which a probe reads as a late connect or a
// hang. A pod's link partner never changes, so a static entry is exact.
func (n *Network) pinNeighbours(h *Host, worldSide string) error {
	var worldMAC, hostMAC net.HardwareAddr
	var worldIdx, hostIdx int
	if err := n.world.Do(func() error {
		l, err := netlink.LinkByName(worldSide)
		if err != nil {
			return fmt.Errorf("link %s: %w", worldSide, err)
		}
		worldMAC, worldIdx = l.Attrs().HardwareAddr, l.Attrs().Index
		return nil
	}); err != nil {
		return err
	}
	if err := h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return fmt.Errorf("link eth0: %w", err)
		}
		hostMAC, hostIdx = l.Attrs().HardwareAddr, l.Attrs().Index
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: hostIdx, State: netlink.NUD_PERMANENT, IP: net.IP(h.Gateway.AsSlice()), HardwareAddr: worldMAC})
	}); err != nil {
		return err
	}
	return n.world.Do(func() error {
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: worldIdx, State: netlink.NUD_PERMANENT, IP: net.IP(h.IP.AsSlice()), HardwareAddr: hostMAC})
	})
}

// AddPod is AddHost for a pod whose own address is in the world range (a
// server pod's IP, which its Service's endpoints name): the address is on
// the pod's eth0, so the pod's own rules and sockets see it as local, and
// the world routes it through the pod's veth and forwards between hosts,
// as a node does for its pods; the pod's own connections leave from it.
// Host.IP is the pod address.
func (n *Network) AddPod(role string, ip netip.Addr) (*Host, error) {
	if !WorldPrefix.Contains(ip) {
		return nil, fmt.Errorf("pod address %s is outside the local target's range %s", ip, WorldPrefix)
	}
	h, err := n.AddHost(role)
	if err != nil {
		return nil, err
	}
	link := h.IP
	if err := h.Do(func() error {
		if err := addrUp("eth0", netip.PrefixFrom(ip, 32)); err != nil {
			return err
		}
		// The pod's connections leave from its pod address, as a
		// cluster pod's do (its only address), not from the link's.
		return netlink.RouteReplace(&netlink.Route{Gw: net.IP(h.Gateway.AsSlice()), Src: net.IP(ip.AsSlice())})
	}); err != nil {
		return nil, fmt.Errorf("pod address %s in %s: %w", ip, h.Name, err)
	}
	h.IP = ip
	if err := n.world.Do(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enabling forwarding: %w", err)
		}
		return netlink.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(ip, 32)), Gw: net.IP(link.AsSlice())})
	}); err != nil {
		return nil, fmt.Errorf("world route to pod %s (%s): %w", ip, h.Name, err)
	}
	return h, nil
}

// Close deletes every namespace of the network. It is safe to call twice.
func (n *Network) Close() error {
	n.mu.Lock()
	hosts := n.hosts
	n.hosts = nil
	n.mu.Unlock()
	var errs []error
	for i := len(hosts) - 1; i >= 0; i-- {
		h := hosts[i]
		h.handle.Close()
		if err := netns.DeleteNamed(h.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting network namespace %s: %w", h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Do runs fn on a locked OS thread switched into the host's namespace.
// Sockets created inside fn belong to the namespace for their lifetime.
func (h *Host) Do(fn func() error) error {
	return onLockedThread(func() error {
		if err := netns.Set(h.handle); err != nil {
			return fmt.Errorf("entering %s: %w", h.Name, err)
		}
		return fn()
	})
}

// Listen opens a listener inside the host's namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dialer returns a dial function whose sockets are created inside the
// host's namespace. With fsuid >= 0 the socket is owned by that UID (the
// kernel takes a socket's owner from the creating thread's fsuid), which is
// how the emulated sidecar's upstream connections carry Istio's proxy UID
// 1337 and are exempted by Istio's own iptables rules, exactly like
// Envoy's in a pod. fsuid -1 keeps the caller's (root).
func (h *Host) Dialer(fsuid int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.dialer(fsuid, nil)
}

func (h *Host) dialer(fsuid int, local net.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			if fsuid >= 0 {
				// setfsuid is per thread (the thread is locked) and
				// returns the previous value; -1 only reads it.
				prev, _ := unix.SetfsuidRetUid(fsuid)
				defer unix.SetfsuidRetUid(prev)
				if got, _ := unix.SetfsuidRetUid(-1); got != fsuid {
					return fmt.Errorf("setting fsuid %d for the dial: still %d", fsuid, got)
				}
			}
			var err error
			c, err = (&net.Dialer{LocalAddr: local}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// DialerFrom is Dialer with the socket bound to local (port chosen by the
// kernel): Envoy's upstream_bind_config, which Istio sets to 127.0.0.6 on
// inbound clusters so its own iptables rules let the connection through.
func (h *Host) DialerFrom(fsuid int, local netip.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.dialer(fsuid, &net.TCPAddr{IP: net.IP(local.AsSlice())})
}

// Path is the namespace's bind mount, for ip netns exec and nsenter.
func (h *Host) Path() string { return filepath.Join(NetnsDir, h.Name) }

// onLockedThread runs fn with the goroutine locked to its thread and puts
// the thread back into its original namespace afterwards. If that fails
// the thread stays locked, so Go discards it instead of reusing a thread
// in the wrong namespace.
func onLockedThread(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("reading the current network namespace: %w", err)
	}
	defer orig.Close()
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("restoring the network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return netlink.LinkSetUp(l)
}

func addrUp(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(p)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, name, err)
	}
	return netlink.LinkSetUp(l)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Sweep deletes namespaces left by killed runs: names with the netlab
// prefix whose pid is no longer alive. It returns what it removed.
func Sweep() ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", NetnsDir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPID(e.Name())
		if !ok || processAlive(pid) {
			continue
		}
		if err := netns.DeleteNamed(e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("removing stale namespace %s: %w", e.Name(), err))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, NamePrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
