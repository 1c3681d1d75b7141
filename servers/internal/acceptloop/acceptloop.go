// Package acceptloop runs a handler for every connection a listener accepts
// and tears the listener and all live connections down when a context ends.
//
// The protocol servers and the probe test peers all need the same shape of
// accept loop (per-connection goroutine, shutdown on context cancel, no
// goroutine left behind), so it lives here once.
package acceptloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Handler serves one accepted connection. It owns the connection and should
// close it when done; the loop closes it too on shutdown, which is what
// unblocks a handler stuck in Read.
type Handler func(ctx context.Context, conn net.Conn)

// Serve accepts connections on l until ctx is done or Accept fails, running
// handle for each in its own goroutine. On return the listener and every
// connection still open are closed and all handlers have returned. It returns
// nil when ctx ended the loop, and the Accept error otherwise.
func Serve(ctx context.Context, l net.Listener, handle Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			_ = c.Close()
		}
	}
	// Closing the listener is the only way to unblock Accept.
	stop := context.AfterFunc(ctx, func() {
		_ = l.Close()
		closeAll()
	})
	defer stop()

	var acceptErr error
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil {
				acceptErr = fmt.Errorf("accept on %s: %w", l.Addr(), err)
			}
			break
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				_ = conn.Close()
			}()
			handle(ctx, conn)
		}()
	}
	_ = l.Close()
	closeAll()
	wg.Wait()
	if errors.Is(acceptErr, net.ErrClosed) {
		// Someone closed the listener directly: treat like a shutdown.
		return nil
	}
	return acceptErr
}
