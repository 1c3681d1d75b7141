package envoy

// HCMAction is what an HTTP connection manager does with a connection,
// by what the client sends first.
type HCMAction string

const (
	// HCMWaitsForRequest: a silent client. The HTTP connection manager
	// dials nothing on its own: the router filter picks a cluster per
	// request, once a request's headers are decoded
	// (source/common/router/router.cc, Filter::decodeHeaders), so with no
	// request there is no upstream and no server byte.
	HCMWaitsForRequest HCMAction = "waits for a request"
	// HCMBadRequest: bytes that are not HTTP/1.x (a server-first
	// protocol's client that speaks first, a TLS ClientHello into a
	// plaintext chain). The HTTP/1 codec fails to parse them and the
	// connection manager answers 400 and closes
	// (source/common/http/conn_manager_impl.cc, ConnectionManagerImpl::onData
	// → handleCodecError; source/common/http/http1/codec_impl.cc).
	HCMBadRequest HCMAction = "answers 400 and closes"
	// HCMRoutes: an HTTP request; the route configuration picks the
	// cluster.
	HCMRoutes HCMAction = "routes the request"
)

// HTTPConnectionManager is what an HTTP connection manager does with a
// connection whose client sends first the bytes sends describes.
func HTTPConnectionManager(sends ClientBytes) HCMAction {
	switch sends {
	case NoClientBytes:
		return HCMWaitsForRequest
	case HTTPRequest:
		return HCMRoutes
	default:
		return HCMBadRequest
	}
}
