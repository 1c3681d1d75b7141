package predict

import (
	"fmt"
	"strings"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/wellknown"
)

// Envoy facts about listener filters (not Istio's): which ones read the
// client's first bytes before a filter chain can be chosen, and what
// happens while they wait.
var (
	// byteInspectors read client bytes to detect a protocol: with no bytes
	// they wait until the listener filter timeout.
	byteInspectors = map[string]string{
		wellknown.HTTPInspector: "HTTP/1.x or h2c (sets the application protocol)",
		wellknown.TLSInspector:  "a TLS ClientHello (sets transport protocol tls, SNI, ALPN)",
		wellknown.ProxyProtocol: "a PROXY protocol header",
	}
	// socketFilters act on the socket alone and never wait.
	socketFilters = map[string]bool{
		wellknown.OriginalDestination: true,
		wellknown.OriginalSource:      true,
	}
)

// envoyDefaultListenerFiltersTimeout applies when a listener leaves
// listener_filters_timeout unset. Source: Envoy's listener.proto
// (listener_filters_timeout: "If not specified, a default timeout of 15s
// is used", PR #5231) and the code that reads it,
// source/common/listener_manager/listener_impl.cc, ListenerImpl's
// constructor: PROTOBUF_GET_MS_OR_DEFAULT(config, listener_filters_timeout,
// 15000). A configured 0s starts no timer at all
// (active_tcp_socket.cc, ActiveTcpSocket::startTimer: only when
// listener_filters_timeout_.count() > 0): wait forever.
const envoyDefaultListenerFiltersTimeout = 15 * time.Second

// Envoy's rules for a redirected connection that passes two listeners
// (virtualOutbound, which has use_original_dst, then the listener for the
// original destination). Source for all three:
// source/common/listener_manager/active_tcp_socket.cc (envoyproxy/envoy,
// read at commit 20de22757254):
//
//   - The accepting listener's own listener filters run before the hand-off.
//     ActiveTcpSocket::continueFilterChain runs every listener filter; only
//     when all have finished does it call newConnection, and newConnection
//     is where the socket whose local address original_dst restored is
//     handed to the listener for that address
//     (getBalancedHandlerByAddress, onAcceptWorker). A listener filter that
//     waits for client bytes on virtualOutbound therefore holds every
//     captured connection, whatever listener would take it afterwards.
//   - On the listener filter timeout, ActiveTcpSocket::onTimeout calls
//     newConnection (hand-off included) only if
//     continue_on_listener_filters_timeout is set; either way it then
//     unlinks the socket, so without continue the socket is closed and the
//     connection never reaches a filter chain or an upstream.
//   - The hand-off passes the socket to the new listener's onAcceptWorker,
//     which runs that listener's own listener filters with a timer of its
//     own: the two listeners' waits add up. The bytes the first filters
//     peeked stay in the kernel's receive buffer (listener filters peek,
//     ListenerFilterBufferImpl), so the second listener's filters see them
//     again.
//
// handOffWait is how long a silent client is held, and whether it then
// goes on to a filter chain, when accepting's filters run before target's.
// decider names which of the two ends the wait.
func handOffWait(accepting, target inspection) (timeout time.Duration, continueOnTimeout bool, decider string) {
	switch {
	case len(accepting.waiting) == 0:
		return target.timeout, target.continueOnTimeout, "target"
	case accepting.timeout == 0 || !accepting.continueOnTimeout:
		return accepting.timeout, false, "accepting"
	case len(target.waiting) == 0:
		return accepting.timeout, true, "accepting"
	case target.timeout == 0:
		return 0, false, "target"
	}
	return accepting.timeout + target.timeout, target.continueOnTimeout, "target"
}

// inspection is what a listener's filters do with a connection to a port.
type inspection struct {
	// waiting are the active inspectors that need client bytes.
	waiting []string
	// timeout is listener_filters_timeout: 0 means wait forever.
	timeout time.Duration
	// continueOnTimeout is continue_on_listener_filters_timeout: after the
	// timeout the chain is chosen with nothing detected; otherwise Envoy
	// closes the socket.
	continueOnTimeout bool
	notes             []string
}

// inspect lists the listener filters active for the destination port,
// using the filters' own disable predicates (Istio turns http_inspector
// off per port on some listeners).
func inspect(l *listener.Listener, port int) (in inspection, err error) {
	defer func() {
		if r := recover(); r != nil { // xdstest panics on predicates it does not know
			err = fmt.Errorf("listener %s: cannot evaluate a listener filter's filter_disabled predicate for port %d: %v", l.GetName(), port, r)
		}
	}()
	for _, f := range l.GetListenerFilters() {
		name := listenerFilterName(f)
		if f.GetFilterDisabled() != nil && xdstest.EvaluateListenerFilterPredicates(f.GetFilterDisabled(), port) {
			in.notes = append(in.notes, fmt.Sprintf("%s is disabled for port %d by its filter_disabled predicate", name, port))
			continue
		}
		switch {
		case byteInspectors[name] != "":
			in.waiting = append(in.waiting, name)
			in.notes = append(in.notes, fmt.Sprintf("%s is active for port %d: it reads the client's first bytes looking for %s", name, port, byteInspectors[name]))
		case socketFilters[name]:
			in.notes = append(in.notes, fmt.Sprintf("%s is active: it reads socket state only and never waits", name))
		default:
			in.notes = append(in.notes, fmt.Sprintf("%s is not a filter predict knows: assumed not to wait for client bytes", name))
		}
	}
	in.timeout = envoyDefaultListenerFiltersTimeout
	if t := l.GetListenerFiltersTimeout(); t != nil {
		in.timeout = t.AsDuration()
	} else if len(in.waiting) > 0 {
		in.notes = append(in.notes, "listener_filters_timeout is unset: Envoy's default of 15s applies (listener.proto; listener_impl.cc reads it with a 15000 ms default)")
	}
	in.continueOnTimeout = l.GetContinueOnListenerFiltersTimeout()
	return in, nil
}

// listenerFilterName is the filter's name, or, for configurations that
// name filters freely, the well-known name its typed config implies.
func listenerFilterName(f *listener.ListenerFilter) string {
	url := f.GetTypedConfig().GetTypeUrl()
	for _, known := range []struct{ name, typ string }{
		{wellknown.HTTPInspector, ".http_inspector."},
		{wellknown.TLSInspector, ".tls_inspector."},
		{wellknown.ProxyProtocol, ".proxy_protocol."},
		{wellknown.OriginalDestination, ".original_dst."},
		{wellknown.OriginalSource, ".original_src."},
	} {
		if f.GetName() == known.name || strings.Contains(url, known.typ) {
			return known.name
		}
	}
	return f.GetName()
}
