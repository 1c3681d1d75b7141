// Package dataplane is the local target's emulated sidecar: it accepts the
// connections Istio's iptables rules redirect to port 15001, recovers each
// one's original destination, and carries out on the real socket what the
// envoy model decides Envoy would do with Istio's generated listeners:
// wait for client bytes as its listener-filter state machine
// (envoy.ListenerFilters.Wait: listener_filters_timeout,
// continue-on-timeout) says, pick the filter chain, then relay TCP to the
// destination or the cluster endpoint, close (BlackHoleCluster), or act as
// the HTTP connection manager.
//
// Nothing here is specific to a scenario: the behaviour comes from the
// listeners Istio generated for it.
package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// OriginalDestination returns the address a REDIRECTed connection was sent
// to before iptables rewrote it (SO_ORIGINAL_DST), as Envoy's
// original_dst listener filter does.
func OriginalDestination(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var addr netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		// SO_ORIGINAL_DST returns a sockaddr_in; the IPv6 mreq getter is
		// the usual way to read those 16 bytes from Go.
		mreq, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if err != nil {
			serr = err
			return
		}
		b := mreq.Multiaddr
		port := uint16(b[2])<<8 | uint16(b[3])
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}), port)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading SO_ORIGINAL_DST (was the connection redirected by iptables?): %w", err)
	}
	return addr, nil
}

// Sniffed is what a listener inspector saw of the client's first bytes.
type Sniffed struct {
	// Bytes are the bytes read while inspecting; they are replayed to
	// whatever handles the connection next.
	Bytes []byte
	// TimedOut is true when the inspection timeout fired before the
	// inspector could decide.
	TimedOut bool
	// Closed is true when the client closed before sending anything.
	Closed bool
	// Waited is how long the inspector held the connection.
	Waited time.Duration
}

// Inspect reads the client's first bytes as Envoy's listener filters do:
// nothing is forwarded until the client has sent enough to decide, or the
// timeout (zero = forever, Istio's default) fires. stop aborts the wait.
func Inspect(c net.Conn, timeout time.Duration, decided func([]byte) bool, stop <-chan struct{}) Sniffed {
	start := time.Now()
	var buf []byte
	tmp := make([]byte, 4096)
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Unblock the read when the run is stopped.
		select {
		case <-stop:
			c.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	if timeout > 0 {
		c.SetReadDeadline(start.Add(timeout))
	}
	defer c.SetReadDeadline(time.Time{})
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if len(buf) > 0 && decided(buf) {
			return Sniffed{Bytes: buf, Waited: time.Since(start)}
		}
		if err != nil {
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			return Sniffed{Bytes: buf, TimedOut: timedOut, Closed: !timedOut && len(buf) == 0, Waited: time.Since(start)}
		}
	}
}

// prefixConn replays bytes already read before reading from the socket.
type prefixConn struct {
	net.Conn
	r io.Reader
}

// WithPrefix returns c with p read back first.
func WithPrefix(c net.Conn, p []byte) net.Conn {
	if len(p) == 0 {
		return c
	}
	return &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(p), c)}
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// Relay copies both ways until both sides are done, half-closing so a
// server that speaks first and a client that closes first both work.
// firstUpstreamByte, when set, runs once the first bytes from up are read,
// before they are written to down.
func Relay(down, up net.Conn, firstUpstreamByte func()) {
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn, first func()) {
		defer wg.Done()
		if first == nil || copyFirst(dst, src, first) == nil {
			io.Copy(dst, src)
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	wg.Add(2)
	go pipe(up, down, nil)
	go pipe(down, up, firstUpstreamByte)
	wg.Wait()
	down.Close()
	up.Close()
}

// copyFirst copies src's first read to dst, calling first in between.
func copyFirst(dst, src net.Conn, first func()) error {
	buf := make([]byte, 32*1024)
	n, err := src.Read(buf)
	if n > 0 {
		first()
		if _, werr := dst.Write(buf[:n]); werr != nil {
			return werr
		}
	}
	return err
}

// CloseWrite lets a prefixConn be half-closed like the socket it wraps.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}

// Reset closes a connection with RST instead of FIN (SO_LINGER 0).
func Reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// isConnRefused reports a refused upstream dial.
func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
