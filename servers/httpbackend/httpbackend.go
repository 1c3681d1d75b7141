// Package httpbackend is the collider's HTTP backend: the in-mesh Service
// whose HTTP port shares its number with a server-first protocol. It answers
// every request with 200 and a small JSON body naming itself, so a test can
// prove that the collider's own HTTP traffic still works after a
// remediation.
//
// Like any HTTP server it waits for the client to speak first, so a
// server-first client that reaches it directly deadlocks just as it does
// behind a sniffing sidecar. Unlike bare net/http, which waits for a line
// feed before judging a request line, it rejects a connection with 400 as
// soon as a byte arrives that cannot be part of an HTTP method, as nginx and
// Envoy's HTTP codec do. A binary client-first protocol (a MongoDB hello,
// whose 4th byte is always 0x00) therefore gets an answer at once instead of
// a wait that depends on whether its bytes happen to contain 0x0A.
package httpbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reply is the JSON body of every response.
type Reply struct {
	Service string `json:"service"` // the backend's configured name
	Port    int    `json:"port"`    // the port the backend listens on
	Host    string `json:"host"`    // the request's Host header
	Method  string `json:"method"`
	Path    string `json:"path"`
}

// Backend answers any HTTP request with a Reply.
type Backend struct {
	// Name identifies the backend in replies (e.g. the collider Service name).
	Name string
	// Port is reported in replies; when zero, Serve fills it in from the
	// listener.
	Port int
}

// Handler returns the request handler, for mounting or for httptest.
func (b Backend) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Reply{
			Service: b.Name,
			Port:    b.Port,
			Host:    r.Host,
			Method:  r.Method,
			Path:    r.URL.Path,
		})
	})
}

// Serve answers HTTP on l until ctx is done, then shuts down gracefully
// (in-flight requests get up to 5 s). It returns nil after a shutdown through
// ctx and the serve error otherwise.
func (b Backend) Serve(ctx context.Context, l net.Listener) error {
	if b.Port == 0 {
		if _, port, err := net.SplitHostPort(l.Addr().String()); err == nil {
			b.Port, _ = strconv.Atoi(port)
		}
	}
	return ServeHandler(ctx, methodGuardListener{l}, b.Handler())
}

// ServeHandler serves h on l with the package's timeouts until ctx is done.
// The agent uses it for its status endpoint too.
func ServeHandler(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http serve on %s: %w", l.Addr(), err)
	}
}

// badRequest is the reply to bytes that cannot start an HTTP request; the
// same bytes net/http sends for a malformed request.
const badRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

// methodGuardListener wraps every accepted connection in a methodGuard.
type methodGuardListener struct{ net.Listener }

func (l methodGuardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &methodGuard{Conn: c}, nil
}

// methodGuard checks the bytes of the request method as net/http reads them
// and answers 400 at the first byte that is not an RFC 9110 token character.
// After the space that ends the method it is a plain connection.
type methodGuard struct {
	net.Conn
	methodLen int
	checked   bool
}

func (g *methodGuard) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	if g.checked {
		return n, err
	}
	for _, c := range b[:n] {
		switch {
		case c == ' ' && g.methodLen > 0:
			g.checked = true
			return n, err
		case isTokenChar(c):
			g.methodLen++
		default:
			g.checked = true
			_, _ = io.WriteString(g.Conn, badRequest)
			_ = g.Conn.Close()
			return 0, io.EOF
		}
	}
	return n, err
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
