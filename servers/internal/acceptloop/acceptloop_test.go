package acceptloop_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/servers/internal/acceptloop"
)

// Cancelling the context must unblock a handler stuck in Read and make
// Serve return nil only after the handler returned.
func TestShutdownClosesConnectionsAndWaits(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	entered, returned := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- acceptloop.Serve(ctx, l, func(_ context.Context, c net.Conn) {
			close(entered)
			_, _ = io.Copy(io.Discard, c) // blocks until the loop closes c
			close(returned)
		})
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	select {
	case <-returned:
	default:
		t.Fatal("Serve returned before the handler did")
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}
