package httpbackend_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/servers/httpbackend"
)

func start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpbackend.Backend{Name: "collider"}.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	})
	return l.Addr().String()
}

func TestReplyNamesTheBackend(t *testing.T) {
	addr := start(t)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/a/b", strings.NewReader("x"))
	req.Host = "collider.ns.svc:3306"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r httpbackend.Reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	want := httpbackend.Reply{Service: "collider", Host: "collider.ns.svc:3306", Method: "POST", Path: "/a/b"}
	r.Port, want.Port = 0, 0
	if resp.StatusCode != http.StatusOK || r != want {
		t.Errorf("got %s %+v, want 200 %+v (port %s)", resp.Status, r, want, port)
	}
}

// A binary first message (here the first bytes of a MongoDB OP_QUERY: a
// little-endian length whose top byte is 0) is rejected at once, without
// waiting for a line feed that may never come.
func TestNonHTTPBytesGet400AtOnce(t *testing.T) {
	c, err := net.Dial("tcp", start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0x2f, 0x01, 0x00, 0x00, 0x07, 0x00}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 400 ") {
		t.Fatalf("status line %q, %v; want 400", status, err)
	}
}
