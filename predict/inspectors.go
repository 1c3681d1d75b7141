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
// listener_filters_timeout unset (Envoy's listener.proto).
const envoyDefaultListenerFiltersTimeout = 15 * time.Second

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
		in.notes = append(in.notes, "listener_filters_timeout is unset: Envoy's default of 15s applies")
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
