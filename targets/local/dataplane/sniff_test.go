package dataplane

import (
	"net"
	"testing"
	"time"
)

func TestDetectHTTP(t *testing.T) {
	for _, c := range []struct {
		in    string
		proto string
		done  bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "http/1.1", true},
		{"POST /a HTTP/1.0\r\n", "http/1.0", true},
		{"GET / HT", "", false},
		{"GE", "", false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2c", true},
		{"PRI * HTTP/2", "", false},
		{"\x3a\x00\x00\x00\x01\x00", "", true}, // a Mongo OP_QUERY header
		{"EHLO client\r\n", "", true},          // SMTP from a client: not HTTP
		{"get / HTTP/1.1\r\n", "", true},
	} {
		proto, done := detectHTTP([]byte(c.in))
		if proto != c.proto || done != c.done {
			t.Errorf("%q: got (%q,%v), want (%q,%v)", c.in, proto, done, c.proto, c.done)
		}
	}
}

func TestInspectorsDecide(t *testing.T) {
	both := Inspectors{HTTP: true, TLS: true}
	if !both.Decided([]byte{0x16, 3, 1, 0, 5}) || !both.Detect([]byte{0x16, 3, 1, 0, 5}).TLS {
		t.Error("TLS ClientHello not recognised")
	}
	if both.Decided(nil) {
		t.Error("decided on no bytes: a server-first client would never be held")
	}
	if d := (Inspectors{TLS: true}); !d.Decided([]byte("x")) || d.Detect([]byte("x")).TLS {
		t.Error("tls_inspector alone must conclude 'not TLS' on a plaintext byte")
	}
}

// Inspect holds a silent client until the timeout, and returns at once
// when the client speaks.
func TestInspect(t *testing.T) {
	insp := Inspectors{HTTP: true}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := Inspect(a, 50*time.Millisecond, insp.Decided, nil)
	if !s.TimedOut || len(s.Bytes) != 0 || s.Waited < 50*time.Millisecond {
		t.Fatalf("silent client: %+v", s)
	}
	go b.Write([]byte("GET / HTTP/1.1\r\n"))
	s = Inspect(a, 0, insp.Decided, nil)
	if s.TimedOut || insp.Detect(s.Bytes).AppProtocol != "http/1.1" {
		t.Fatalf("http client: %+v", s)
	}
	stop := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(stop) })
	if s = Inspect(a, 0, insp.Decided, stop); !s.TimedOut {
		t.Fatalf("stop did not end an endless wait: %+v", s)
	}
}
