package envoy

import (
	"fmt"
	"slices"
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

// DefaultListenerFiltersTimeout applies when a listener leaves
// listener_filters_timeout unset. Source: Envoy's listener.proto
// (listener_filters_timeout: "If not specified, a default timeout of 15s
// is used", PR #5231) and the code that reads it,
// source/common/listener_manager/listener_impl.cc, ListenerImpl's
// constructor: PROTOBUF_GET_MS_OR_DEFAULT(config, listener_filters_timeout,
// 15000). A configured 0s starts no timer at all
// (active_tcp_socket.cc, ActiveTcpSocket::startTimer: only when
// listener_filters_timeout_.count() > 0): wait forever.
const DefaultListenerFiltersTimeout = 15 * time.Second

// ListenerFilters is what a listener's listener filters do with a
// connection to one port, before any filter chain is chosen.
type ListenerFilters struct {
	// Waiting lists the active listener filters that need client bytes
	// before a chain can be chosen (http_inspector, tls_inspector).
	Waiting []string
	// Timeout is listener_filters_timeout (DefaultListenerFiltersTimeout
	// when unset); zero waits forever.
	Timeout time.Duration
	// ContinueOnTimeout is continue_on_listener_filters_timeout: after the
	// timeout the chain is chosen with nothing detected; without it Envoy
	// closes the socket.
	ContinueOnTimeout bool
}

// WaitKind is what comes of the listener filters' wait.
type WaitKind string

const (
	// ChainNow: nothing waits, or the client's first bytes arrive at once
	// and the inspectors decide; the filter chain is chosen now.
	ChainNow WaitKind = "chain now"
	// HoldForever: an inspector waits with listener_filters_timeout 0s
	// and the client sends nothing: no filter chain is ever chosen, no
	// upstream dialled.
	HoldForever WaitKind = "hold forever"
	// CloseAfter: the timeout fires without
	// continue_on_listener_filters_timeout; Envoy closes the socket.
	CloseAfter WaitKind = "close after the timeout"
	// ContinueAfter: the timeout fires with
	// continue_on_listener_filters_timeout; the chain is chosen with
	// nothing detected (transport raw_buffer, no application protocol).
	ContinueAfter WaitKind = "continue after the timeout"
)

// Wait is the listener-filter state machine's answer for one connection.
type Wait struct {
	Kind WaitKind
	// After is how long the filters hold the connection before Envoy
	// closes it or goes on: the timeout for CloseAfter and ContinueAfter,
	// zero otherwise.
	After time.Duration
	// Detected is what the filter chain is chosen with: the client's
	// bytes for ChainNow, NoClientBytes after a timeout. Meaningless for
	// HoldForever and CloseAfter, which choose no chain.
	Detected ClientBytes
}

// Wait runs Envoy's listener-filter state machine for a client whose first
// bytes are sends (NoClientBytes for a silent, server-first client). Source:
// source/common/listener_manager/active_tcp_socket.cc (envoyproxy/envoy,
// read at commit 20de22757254): ActiveTcpSocket::continueFilterChain runs
// the listener filters and only when all have finished calls
// newConnection, which chooses the filter chain; an inspector that has not
// finished waits for more bytes (onFileEvent); ActiveTcpSocket::startTimer
// arms listener_filters_timeout only when it is above zero, so 0s waits
// forever; ActiveTcpSocket::onTimeout calls newConnection only when
// continue_on_listener_filters_timeout is set and then unlinks the socket,
// so without continue the socket is closed. Every inspector this model
// knows concludes on the first bytes, whether they are what it looks for
// or not.
func (f ListenerFilters) Wait(sends ClientBytes) Wait {
	switch {
	case len(f.Waiting) == 0 || sends != NoClientBytes:
		return Wait{Kind: ChainNow, Detected: sends}
	case f.Timeout == 0:
		return Wait{Kind: HoldForever, Detected: NoClientBytes}
	case !f.ContinueOnTimeout:
		return Wait{Kind: CloseAfter, After: f.Timeout, Detected: NoClientBytes}
	default:
		return Wait{Kind: ContinueAfter, After: f.Timeout, Detected: NoClientBytes}
	}
}

// Recognised is what the listener filters make of the client's first
// bytes for filter-chain matching: an HTTP request sets the application
// protocol only when http_inspector reads it (it is the filter that sets
// it, source/extensions/filters/listener/http_inspector); without one the
// request matches as bytes that are neither HTTP nor TLS.
func (f ListenerFilters) Recognised(sends ClientBytes) ClientBytes {
	if sends == HTTPRequest && !f.Inspects(wellknown.HTTPInspector) {
		return OpaqueBytes
	}
	return sends
}

// Waits reports whether a listener filter needs client bytes.
func (f ListenerFilters) Waits() bool { return len(f.Waiting) > 0 }

// Inspects reports whether the named listener filter (a well-known name,
// such as wellknown.HTTPInspector) is among the waiting ones.
func (f ListenerFilters) Inspects(name string) bool { return slices.Contains(f.Waiting, name) }

// TimeoutText describes the listener filter timeout for traces.
func (f ListenerFilters) TimeoutText() string {
	if f.Timeout == 0 {
		return "listener_filters_timeout 0s (no timeout: wait forever)"
	}
	return fmt.Sprintf("listener_filters_timeout %s, continue_on_listener_filters_timeout %v", f.Timeout, f.ContinueOnTimeout)
}

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
// HandOffWait composes the two: what holds a silent client, for how long,
// and whether it then goes on to a filter chain, when accepting's filters
// run before target's. Waiting lists target's waiting filters, then
// accepting's not already listed. acceptingDecides is true when
// accepting's timeout ends a silent client's wait.
func HandOffWait(accepting, target ListenerFilters) (both ListenerFilters, acceptingDecides bool) {
	both.Waiting = append([]string(nil), target.Waiting...)
	for _, w := range accepting.Waiting {
		if !both.Inspects(w) {
			both.Waiting = append(both.Waiting, w)
		}
	}
	switch {
	case len(accepting.Waiting) == 0:
		both.Timeout, both.ContinueOnTimeout = target.Timeout, target.ContinueOnTimeout
	case accepting.Timeout == 0 || !accepting.ContinueOnTimeout:
		both.Timeout, both.ContinueOnTimeout, acceptingDecides = accepting.Timeout, false, true
	case len(target.Waiting) == 0:
		both.Timeout, both.ContinueOnTimeout, acceptingDecides = accepting.Timeout, true, true
	case target.Timeout == 0:
		both.Timeout, both.ContinueOnTimeout = 0, false
	default:
		both.Timeout, both.ContinueOnTimeout = accepting.Timeout+target.Timeout, target.ContinueOnTimeout
	}
	return both, acceptingDecides
}

// Inspection is what a listener's filters do with a connection to a
// port, with the notes that explain it.
type Inspection struct {
	ListenerFilters
	Notes []string
}

// Inspect lists the listener filters active for the destination port,
// using the filters' own disable predicates (Istio turns http_inspector
// off per port on some listeners), and reads the listener filter timeout.
func Inspect(l *listener.Listener, port int) (in Inspection, err error) {
	defer func() {
		if r := recover(); r != nil { // xdstest panics on predicates it does not know
			err = fmt.Errorf("listener %s: cannot evaluate a listener filter's filter_disabled predicate for port %d: %v", l.GetName(), port, r)
		}
	}()
	for _, f := range l.GetListenerFilters() {
		name := ListenerFilterName(f)
		if f.GetFilterDisabled() != nil && xdstest.EvaluateListenerFilterPredicates(f.GetFilterDisabled(), port) {
			in.Notes = append(in.Notes, fmt.Sprintf("%s is disabled for port %d by its filter_disabled predicate", name, port))
			continue
		}
		switch {
		case byteInspectors[name] != "":
			in.Waiting = append(in.Waiting, name)
			in.Notes = append(in.Notes, fmt.Sprintf("%s is active for port %d: it reads the client's first bytes looking for %s", name, port, byteInspectors[name]))
		case socketFilters[name]:
			in.Notes = append(in.Notes, fmt.Sprintf("%s is active: it reads socket state only and never waits", name))
		default:
			in.Notes = append(in.Notes, fmt.Sprintf("%s is not a filter the envoy model knows: assumed not to wait for client bytes", name))
		}
	}
	in.Timeout = DefaultListenerFiltersTimeout
	if t := l.GetListenerFiltersTimeout(); t != nil {
		in.Timeout = t.AsDuration()
	} else if len(in.Waiting) > 0 {
		in.Notes = append(in.Notes, "listener_filters_timeout is unset: Envoy's default of 15s applies (listener.proto; listener_impl.cc reads it with a 15000 ms default)")
	}
	in.ContinueOnTimeout = l.GetContinueOnListenerFiltersTimeout()
	return in, nil
}

// ListenerWaiters lists a listener's listener filters that wait for
// client bytes on some port (their filter_disabled predicates aside), in
// the listener's order: what decides whether the listener can hold a
// silent client at all.
func ListenerWaiters(l *listener.Listener) []string {
	var out []string
	for _, f := range l.GetListenerFilters() {
		if name := ListenerFilterName(f); byteInspectors[name] != "" {
			out = append(out, name)
		}
	}
	return out
}

// ListenerFilterName is the filter's name, or, for configurations that
// name filters freely, the well-known name its typed config implies.
func ListenerFilterName(f *listener.ListenerFilter) string {
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
