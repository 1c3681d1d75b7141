package envoy

// ClientBytes is what the client sends first after the TCP handshake, as
// far as a listener inspector can tell.
type ClientBytes string

const (
	// NoClientBytes: a server-first client sends nothing and waits for the
	// greeting.
	NoClientBytes ClientBytes = "none"
	// OpaqueBytes: a client-first protocol that is neither HTTP nor TLS
	// (MongoDB's hello). Inspectors conclude at once: not HTTP, not TLS.
	OpaqueBytes ClientBytes = "opaque"
	// HTTPRequest: an HTTP/1.1 request, which http_inspector recognises.
	HTTPRequest ClientBytes = "http/1.1"
	// TLSClientHello: a TLS ClientHello, which a client sidecar sends the
	// moment its tcp_proxy connects an upstream whose transport socket is
	// TLS (Istio mTLS), whatever the application does. tls_inspector reads
	// it at once; http_inspector sees at once that it is not HTTP.
	TLSClientHello ClientBytes = "tls"
)

// Detection says, for traces, what the listener inspectors conclude from
// bytes that arrive at once.
func Detection(b ClientBytes) string {
	switch b {
	case HTTPRequest:
		return "HTTP/1.1 detected (application protocol http/1.1), transport raw_buffer"
	default:
		return "neither HTTP nor TLS, so no application protocol and transport raw_buffer"
	}
}
