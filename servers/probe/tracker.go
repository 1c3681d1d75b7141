package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// errAborted is what a driver sees when it dials after the verdict.
var errAborted = errors.New("probe already reached its verdict; not dialing again")

// tracker is the probe's view of the wire. Every connection a driver opens
// goes through its DialContext, so the first server byte, the bytes read and
// the way a peer ended are observed on the raw sockets, across however many
// connections the driver dials (mongo's monitor plus application
// connection, a retry after a bad connection). Closing every tracked socket
// is how a verdict makes a driver return at once, whatever its own timeouts.
type tracker struct {
	start          time.Time
	dial           DialFunc
	connectTimeout time.Duration

	connectedCh chan struct{} // closed at the first successful connect
	firstByteCh chan struct{} // closed at the first server byte

	mu    sync.Mutex
	state wireState
	conns []net.Conn
}

// wireState is what the tracker has seen so far; a copy of it feeds the
// verdict.
type wireState struct {
	aborted     bool
	dials       int
	connected   bool
	connectAt   time.Duration
	gotByte     bool
	firstByteAt time.Duration
	serverBytes int64
	dialErr     error  // first failed dial
	peerEnd     string // how the peer ended a connection before any server byte
	peerEndAt   time.Duration
}

func newTracker(start time.Time, dial DialFunc, connectTimeout time.Duration) *tracker {
	return &tracker{
		start:          start,
		dial:           dial,
		connectTimeout: connectTimeout,
		connectedCh:    make(chan struct{}),
		firstByteCh:    make(chan struct{}),
	}
}

func (t *tracker) since() time.Duration { return time.Since(t.start) }

// DialContext dials through the configured dialer and tracks the connection.
// Its signature fits go-sql-driver's Config.DialFunc and the mongo driver's
// ContextDialer.
func (t *tracker) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t.mu.Lock()
	if t.state.aborted {
		t.mu.Unlock()
		return nil, errAborted
	}
	t.state.dials++
	t.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, t.connectTimeout)
	defer cancel()
	conn, err := t.dial(dctx, network, addr)
	now := t.since()

	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		// The handshake completed (a refused SYN is ECONNREFUSED) and the
		// peer reset the connection before the kernel told us about the
		// connect. On loopback a resetting acceptor wins that race often.
		t.markConnected(now)
		if !t.state.gotByte && t.state.peerEnd == "" {
			t.state.peerEnd, t.state.peerEndAt = "peer reset the connection right after the TCP handshake (ECONNRESET on connect)", now
		}
		return nil, err
	case err != nil:
		if t.state.dialErr == nil {
			t.state.dialErr = err
		}
		return nil, err
	}
	if t.state.aborted {
		_ = conn.Close()
		return nil, errAborted
	}
	t.markConnected(now)
	wc := &watchedConn{Conn: conn, t: t}
	t.conns = append(t.conns, wc)
	return wc, nil
}

// markConnected records the first completed TCP handshake. t.mu must be
// held.
func (t *tracker) markConnected(at time.Duration) {
	if !t.state.connected {
		t.state.connected, t.state.connectAt = true, at
		close(t.connectedCh)
	}
}

// abort closes every tracked connection, refuses further dials and returns
// what was seen up to now. Bytes or errors arriving afterwards are not part
// of the verdict.
func (t *tracker) abort() wireState {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.abortLocked()
	return t.state
}

// abortIfSilent aborts only if no server byte has arrived yet, atomically
// with that check, so a byte that lands as the budget expires is never
// thrown away.
func (t *tracker) abortIfSilent() (wireState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.gotByte {
		return t.state, false
	}
	t.abortLocked()
	return t.state, true
}

func (t *tracker) abortLocked() {
	if t.state.aborted {
		return
	}
	t.state.aborted = true
	for _, c := range t.conns {
		_ = c.Close()
	}
}

func (t *tracker) snapshot() wireState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

func (t *tracker) observeRead(n int, err error) {
	now := t.since()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.aborted {
		return
	}
	if n > 0 {
		t.state.serverBytes += int64(n)
		if !t.state.gotByte {
			t.state.gotByte, t.state.firstByteAt = true, now
			close(t.firstByteCh)
		}
	}
	if err != nil && !t.state.gotByte && t.state.peerEnd == "" {
		t.state.peerEnd, t.state.peerEndAt = peerEnd(err, "read"), now
	}
}

func (t *tracker) observeWrite(err error) {
	now := t.since()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && !t.state.aborted && !t.state.gotByte && t.state.peerEnd == "" {
		t.state.peerEnd, t.state.peerEndAt = peerEnd(err, "write"), now
	}
}

// peerEnd names the ways a peer ends a connection; other errors (our own
// close, deadlines) return "".
func peerEnd(err error, op string) string {
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("peer closed the connection (EOF on %s)", op)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("peer reset the connection (ECONNRESET on %s)", op)
	case errors.Is(err, syscall.EPIPE):
		return fmt.Sprintf("peer closed the connection (EPIPE on %s)", op)
	}
	return ""
}

// watchedConn reports reads and writes to its tracker.
type watchedConn struct {
	net.Conn
	t *tracker
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.observeRead(n, err)
	return n, err
}

func (c *watchedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.t.observeWrite(err)
	return n, err
}
