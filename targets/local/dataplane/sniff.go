package dataplane

import (
	"bytes"

	"github.com/firstbyte/firstbyte/envoy"
	"istio.io/istio/pkg/wellknown"
)

// Detection is what Envoy's listener inspectors conclude from the client's
// first bytes: the transport protocol (tls_inspector) and the application
// protocol (http_inspector), the inputs of filter-chain matching.
type Detection struct {
	// TLS is true when the bytes start a TLS ClientHello.
	TLS bool
	// AppProtocol is "http/1.1", "http/1.0" or "h2c" when http_inspector
	// recognised HTTP, else empty.
	AppProtocol string
}

// Inspectors says which of the listener filters that wait for client
// bytes read them on a real socket here: http_inspector and tls_inspector.
type Inspectors struct {
	HTTP, TLS bool
}

// InspectorsOf is the inspectors the emulator runs for Envoy's decision
// on a listener's filters.
func InspectorsOf(f envoy.ListenerFilters) Inspectors {
	return Inspectors{HTTP: f.Inspects(wellknown.HTTPInspector), TLS: f.Inspects(wellknown.TLSInspector)}
}

// Active reports whether any inspector must see client bytes.
func (i Inspectors) Active() bool { return i.HTTP || i.TLS }

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// Decided reports whether the active inspectors can conclude from b, the
// bytes read so far. Like Envoy's, they conclude as soon as the bytes
// cannot be what they look for, or once they are sure they are.
func (i Inspectors) Decided(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if i.TLS && b[0] == 0x16 {
		// A ClientHello: tls_inspector reads the record header (5 bytes)
		// and the handshake; the HTTP inspector has nothing to add.
		return len(b) >= 5
	}
	if !i.HTTP {
		return true
	}
	_, done := detectHTTP(b)
	return done
}

// Detect returns the detection for the bytes an inspector read.
func (i Inspectors) Detect(b []byte) Detection {
	var d Detection
	if i.TLS && len(b) > 0 && b[0] == 0x16 {
		d.TLS = true
		return d
	}
	if i.HTTP {
		d.AppProtocol, _ = detectHTTP(b)
	}
	return d
}

// detectHTTP classifies a request's first bytes. done is false while the
// bytes are still a valid prefix of an HTTP/1.x request line or of the
// HTTP/2 preface.
func detectHTTP(b []byte) (proto string, done bool) {
	if bytes.HasPrefix(b, h2Preface) {
		return "h2c", true
	}
	if bytes.HasPrefix(h2Preface, b) {
		return "", false
	}
	line, complete := b, false
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line, complete = bytes.TrimRight(b[:i], "\r"), true
	}
	// METHOD: upper-case token.
	sp := bytes.IndexByte(line, ' ')
	method := line
	if sp >= 0 {
		method = line[:sp]
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return "", true
		}
	}
	if sp < 0 {
		return "", complete || len(method) > 32
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		if complete || bytes.ContainsAny(rest, "\x00\r") {
			return "", true
		}
		return "", false
	}
	version := rest[sp2+1:]
	for _, v := range []string{"HTTP/1.1", "HTTP/1.0"} {
		if bytes.Equal(version, []byte(v)) {
			return "http/1." + v[len(v)-1:], true
		}
		if !complete && bytes.HasPrefix([]byte(v), version) {
			return "", false
		}
	}
	return "", true
}
