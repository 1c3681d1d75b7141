package envoy

import (
	"testing"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"istio.io/istio/pkg/wellknown"
)

// TestWait enumerates the listener-filter state machine: a listener
// whose filters wait or not; listener_filters_timeout 0s, unset (Envoy's
// 15 s, as Inspect reads it) or set; continue on or off; a silent client
// or one that speaks at once.
func TestWait(t *testing.T) {
	http := []string{wellknown.HTTPInspector}
	const set = 1500 * time.Millisecond
	cases := []struct {
		name    string
		filters ListenerFilters
		sends   ClientBytes
		want    Wait
	}{
		{"nothing waits, silent client", ListenerFilters{Timeout: 0}, NoClientBytes, Wait{Kind: ChainNow, Detected: NoClientBytes}},
		{"nothing waits, client speaks", ListenerFilters{Timeout: DefaultListenerFiltersTimeout}, OpaqueBytes, Wait{Kind: ChainNow, Detected: OpaqueBytes}},

		{"0s, silent client", ListenerFilters{Waiting: http, Timeout: 0}, NoClientBytes, Wait{Kind: HoldForever, Detected: NoClientBytes}},
		{"0s with continue, silent client", ListenerFilters{Waiting: http, Timeout: 0, ContinueOnTimeout: true}, NoClientBytes, Wait{Kind: HoldForever, Detected: NoClientBytes}},
		{"0s, client speaks", ListenerFilters{Waiting: http, Timeout: 0}, OpaqueBytes, Wait{Kind: ChainNow, Detected: OpaqueBytes}},
		{"0s with continue, HTTP request", ListenerFilters{Waiting: http, Timeout: 0, ContinueOnTimeout: true}, HTTPRequest, Wait{Kind: ChainNow, Detected: HTTPRequest}},

		{"unset, silent client", ListenerFilters{Waiting: http, Timeout: DefaultListenerFiltersTimeout}, NoClientBytes, Wait{Kind: CloseAfter, After: 15 * time.Second, Detected: NoClientBytes}},
		{"unset with continue, silent client", ListenerFilters{Waiting: http, Timeout: DefaultListenerFiltersTimeout, ContinueOnTimeout: true}, NoClientBytes, Wait{Kind: ContinueAfter, After: 15 * time.Second, Detected: NoClientBytes}},
		{"unset, client speaks", ListenerFilters{Waiting: http, Timeout: DefaultListenerFiltersTimeout}, TLSClientHello, Wait{Kind: ChainNow, Detected: TLSClientHello}},
		{"unset with continue, client speaks", ListenerFilters{Waiting: http, Timeout: DefaultListenerFiltersTimeout, ContinueOnTimeout: true}, OpaqueBytes, Wait{Kind: ChainNow, Detected: OpaqueBytes}},

		{"T, silent client", ListenerFilters{Waiting: http, Timeout: set}, NoClientBytes, Wait{Kind: CloseAfter, After: set, Detected: NoClientBytes}},
		{"T with continue, silent client", ListenerFilters{Waiting: http, Timeout: set, ContinueOnTimeout: true}, NoClientBytes, Wait{Kind: ContinueAfter, After: set, Detected: NoClientBytes}},
		{"T, client speaks", ListenerFilters{Waiting: http, Timeout: set}, HTTPRequest, Wait{Kind: ChainNow, Detected: HTTPRequest}},
		{"T with continue, client speaks", ListenerFilters{Waiting: http, Timeout: set, ContinueOnTimeout: true}, OpaqueBytes, Wait{Kind: ChainNow, Detected: OpaqueBytes}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, c.filters.Wait(c.sends)); diff != "" {
				t.Errorf("Wait(%s) (-want +got):\n%s", c.sends, diff)
			}
		})
	}
}

// TestHandOffWait enumerates how virtualOutbound's filters (accepting)
// and the original destination's listener's (target) compose for a
// silent client, and what the composed state machine then says.
func TestHandOffWait(t *testing.T) {
	http, tls := wellknown.HTTPInspector, wellknown.TLSInspector
	const one, two = time.Second, 2 * time.Second
	cases := []struct {
		name              string
		accepting, target ListenerFilters
		want              ListenerFilters
		acceptingDecides  bool
		silent            Wait
	}{
		{
			name:      "accepting waits for nothing: target's wait alone",
			accepting: ListenerFilters{Timeout: DefaultListenerFiltersTimeout},
			target:    ListenerFilters{Waiting: []string{http}, Timeout: 0},
			want:      ListenerFilters{Waiting: []string{http}, Timeout: 0},
			silent:    Wait{Kind: HoldForever, Detected: NoClientBytes},
		},
		{
			name:             "accepting 0s holds forever before the hand-off",
			accepting:        ListenerFilters{Waiting: []string{http}, Timeout: 0, ContinueOnTimeout: true},
			target:           ListenerFilters{Waiting: []string{tls}, Timeout: one, ContinueOnTimeout: true},
			want:             ListenerFilters{Waiting: []string{tls, http}, Timeout: 0},
			acceptingDecides: true,
			silent:           Wait{Kind: HoldForever, Detected: NoClientBytes},
		},
		{
			name:             "accepting without continue closes at its timeout, before the hand-off",
			accepting:        ListenerFilters{Waiting: []string{http}, Timeout: DefaultListenerFiltersTimeout},
			target:           ListenerFilters{Waiting: []string{http}, Timeout: 0},
			want:             ListenerFilters{Waiting: []string{http}, Timeout: DefaultListenerFiltersTimeout},
			acceptingDecides: true,
			silent:           Wait{Kind: CloseAfter, After: 15 * time.Second, Detected: NoClientBytes},
		},
		{
			name:             "accepting continues and target waits for nothing: accepting's timeout, then a chain",
			accepting:        ListenerFilters{Waiting: []string{http}, Timeout: one, ContinueOnTimeout: true},
			target:           ListenerFilters{Timeout: DefaultListenerFiltersTimeout},
			want:             ListenerFilters{Waiting: []string{http}, Timeout: one, ContinueOnTimeout: true},
			acceptingDecides: true,
			silent:           Wait{Kind: ContinueAfter, After: one, Detected: NoClientBytes},
		},
		{
			name:      "accepting continues into a target that waits forever",
			accepting: ListenerFilters{Waiting: []string{http}, Timeout: one, ContinueOnTimeout: true},
			target:    ListenerFilters{Waiting: []string{http}, Timeout: 0, ContinueOnTimeout: true},
			want:      ListenerFilters{Waiting: []string{http}, Timeout: 0},
			silent:    Wait{Kind: HoldForever, Detected: NoClientBytes},
		},
		{
			name:      "both time out: the waits add up, target's continue decides",
			accepting: ListenerFilters{Waiting: []string{http}, Timeout: one, ContinueOnTimeout: true},
			target:    ListenerFilters{Waiting: []string{tls}, Timeout: two},
			want:      ListenerFilters{Waiting: []string{tls, http}, Timeout: one + two},
			silent:    Wait{Kind: CloseAfter, After: one + two, Detected: NoClientBytes},
		},
		{
			name:      "both time out and continue",
			accepting: ListenerFilters{Waiting: []string{http}, Timeout: one, ContinueOnTimeout: true},
			target:    ListenerFilters{Waiting: []string{http}, Timeout: two, ContinueOnTimeout: true},
			want:      ListenerFilters{Waiting: []string{http}, Timeout: one + two, ContinueOnTimeout: true},
			silent:    Wait{Kind: ContinueAfter, After: one + two, Detected: NoClientBytes},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			both, acceptingDecides := HandOffWait(c.accepting, c.target)
			if diff := cmp.Diff(c.want, both); diff != "" {
				t.Errorf("HandOffWait filters (-want +got):\n%s", diff)
			}
			if acceptingDecides != c.acceptingDecides {
				t.Errorf("acceptingDecides = %v, want %v", acceptingDecides, c.acceptingDecides)
			}
			if diff := cmp.Diff(c.silent, both.Wait(NoClientBytes)); diff != "" {
				t.Errorf("composed Wait for a silent client (-want +got):\n%s", diff)
			}
			if got := both.Wait(OpaqueBytes); got.Kind != ChainNow {
				t.Errorf("composed Wait for a client that speaks = %+v, want %s", got, ChainNow)
			}
		})
	}
}

// TestInspect reads the listener filter timeout as Envoy does (unset is
// 15 s, 0s is no timer) and classifies the filters.
func TestInspect(t *testing.T) {
	filters := func(names ...string) []*listener.ListenerFilter {
		var out []*listener.ListenerFilter
		for _, n := range names {
			out = append(out, &listener.ListenerFilter{Name: n})
		}
		return out
	}
	cases := []struct {
		name string
		l    *listener.Listener
		want ListenerFilters
	}{
		{"unset timeout is Envoy's 15s", &listener.Listener{Name: "a", ListenerFilters: filters(wellknown.HTTPInspector)},
			ListenerFilters{Waiting: []string{wellknown.HTTPInspector}, Timeout: 15 * time.Second}},
		{"0s waits forever", &listener.Listener{Name: "b", ListenerFilters: filters(wellknown.OriginalDestination, wellknown.TLSInspector, wellknown.HTTPInspector), ListenerFiltersTimeout: durationpb.New(0)},
			ListenerFilters{Waiting: []string{wellknown.TLSInspector, wellknown.HTTPInspector}, Timeout: 0}},
		{"a set timeout with continue", &listener.Listener{Name: "c", ListenerFilters: filters(wellknown.HTTPInspector), ListenerFiltersTimeout: durationpb.New(time.Second), ContinueOnListenerFiltersTimeout: true},
			ListenerFilters{Waiting: []string{wellknown.HTTPInspector}, Timeout: time.Second, ContinueOnTimeout: true}},
		{"socket filters never wait", &listener.Listener{Name: "d", ListenerFilters: filters(wellknown.OriginalDestination, wellknown.OriginalSource)},
			ListenerFilters{Timeout: 15 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := Inspect(c.l, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, in.ListenerFilters); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
			if len(in.Notes) == 0 {
				t.Error("Inspect explained nothing")
			}
		})
	}
}

// TestRecognised: only http_inspector sets the application protocol.
func TestRecognised(t *testing.T) {
	cases := []struct {
		name    string
		waiting []string
		sends   ClientBytes
		want    ClientBytes
	}{
		{"HTTP with http_inspector", []string{wellknown.HTTPInspector}, HTTPRequest, HTTPRequest},
		{"HTTP with tls_inspector only", []string{wellknown.TLSInspector}, HTTPRequest, OpaqueBytes},
		{"HTTP with no inspector", nil, HTTPRequest, OpaqueBytes},
		{"ClientHello with no inspector", nil, TLSClientHello, TLSClientHello},
		{"silence", []string{wellknown.HTTPInspector}, NoClientBytes, NoClientBytes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (ListenerFilters{Waiting: c.waiting}).Recognised(c.sends); got != c.want {
				t.Errorf("Recognised(%s) = %s, want %s", c.sends, got, c.want)
			}
		})
	}
}

// TestRBACDenial: a deny closes a server-first client only after the
// greeting reached it (protocol-error), a client-first one on its own
// first bytes (reset).
func TestRBACDenial(t *testing.T) {
	type result struct {
		Outcome          scenarios.Outcome
		ServerBytesFirst bool
	}
	for _, c := range []struct {
		sends ClientBytes
		want  result
	}{
		{NoClientBytes, result{scenarios.ProtocolError, true}},
		{OpaqueBytes, result{scenarios.Reset, false}},
		{HTTPRequest, result{scenarios.Reset, false}},
	} {
		t.Run(string(c.sends), func(t *testing.T) {
			var got result
			got.Outcome, got.ServerBytesFirst = RBACDenial(c.sends)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("RBACDenial(%q) (-want +got):\n%s", c.sends, diff)
			}
		})
	}
}
