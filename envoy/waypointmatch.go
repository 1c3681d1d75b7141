package envoy

import (
	"fmt"
	"net/netip"
	"slices"

	matcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	network "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// WaypointChain evaluates a listener's filter_chain_matcher (Envoy's
// unified matcher, which Istio's pilot/pkg/simulation does not evaluate)
// for a connection to dst with what the inspectors detected. It knows the
// inputs Istio's waypoint matcher uses (pilot/pkg/networking/core/match):
// destination IP (an IPMatcher of CIDR ranges), destination port,
// application protocol (http_inspector's result: 'http/1.1', 'h2c'), and
// the filter-state inputs that only an east-west gateway or a
// multi-network hop sets (empty here). Rules, from the matcher's
// definition (cncf/xds xds/type/matcher/v3/matcher.proto, ip.proto): an
// exact map matches the input's value or falls to on_no_match; among IP
// ranges that contain the address the longest prefix wins; on_match is an
// action (the chain's name, a StringValue) or a nested matcher, and a
// nested matcher that matches nothing falls back to its own on_no_match.
func WaypointChain(l *listener.Listener, dst netip.AddrPort, detected ClientBytes) (string, []string, error) {
	m := l.GetFilterChainMatcher()
	if m == nil {
		return "", nil, fmt.Errorf("listener %s has no filter_chain_matcher: the waypoint model expects Istio's matcher", l.GetName())
	}
	appProtocol := ""
	if detected == HTTPRequest {
		appProtocol = "'http/1.1'"
	}
	var steps []string
	name, ok, err := runMatcher(m, dst, appProtocol, &steps)
	if err != nil {
		return "", steps, fmt.Errorf("listener %s: %w", l.GetName(), err)
	}
	if !ok {
		return "", steps, fmt.Errorf("listener %s: no filter chain matches %s (application protocol %q): Envoy closes the connection", l.GetName(), dst, appProtocol)
	}
	steps = append(steps, fmt.Sprintf("%s's filter_chain_matcher picks chain %s", l.GetName(), name))
	return name, steps, nil
}

func runMatcher(m *matcher.Matcher, dst netip.AddrPort, appProtocol string, steps *[]string) (string, bool, error) {
	tree := m.GetMatcherTree()
	if tree == nil {
		return "", false, fmt.Errorf("a matcher_list matcher: the envoy model knows only the matcher trees Istio builds")
	}
	var (
		value string
		input string
	)
	in := tree.GetInput().GetTypedConfig()
	switch {
	case in.MessageIs(&network.DestinationIPInput{}):
		value, input = dst.Addr().String(), "destination IP"
	case in.MessageIs(&network.DestinationPortInput{}):
		value, input = fmt.Sprint(dst.Port()), "destination port"
	case in.MessageIs(&network.ApplicationProtocolInput{}):
		value, input = appProtocol, "application protocol"
	case in.MessageIs(&network.FilterStateInput{}):
		// Set by an east-west gateway hop or multi-network routing only.
		value, input = "", "filter state"
	default:
		return "", false, fmt.Errorf("matcher input %s: the envoy model does not know it", in.GetTypeUrl())
	}
	var next *matcher.Matcher_OnMatch
	switch t := tree.GetTreeType().(type) {
	case *matcher.Matcher_MatcherTree_ExactMatchMap:
		next = t.ExactMatchMap.GetMap()[value]
		if next != nil {
			*steps = append(*steps, fmt.Sprintf("%s %q matches", input, value))
		} else {
			*steps = append(*steps, fmt.Sprintf("%s %q matches no entry (known: %v)", input, value, mapKeys(t.ExactMatchMap.GetMap())))
		}
	case *matcher.Matcher_MatcherTree_CustomMatch:
		ipm := &matcher.IPMatcher{}
		if err := t.CustomMatch.GetTypedConfig().UnmarshalTo(ipm); err != nil {
			return "", false, fmt.Errorf("custom matcher %s: the envoy model knows only the IP matcher: %w", t.CustomMatch.GetName(), err)
		}
		ip, err := netip.ParseAddr(value)
		if err != nil {
			return "", false, fmt.Errorf("IP matcher on %s input %q", input, value)
		}
		best := -1
		for _, rm := range ipm.GetRangeMatchers() {
			for _, r := range rm.GetRanges() {
				p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
				if err != nil {
					return "", false, err
				}
				if p.Contains(ip) && p.Bits() > best {
					best, next = p.Bits(), rm.GetOnMatch()
					*steps = append(*steps, fmt.Sprintf("%s %s is in range %s", input, ip, p))
				}
			}
		}
		if next == nil {
			*steps = append(*steps, fmt.Sprintf("%s %s is in no range of the IP matcher", input, ip))
		}
	default:
		return "", false, fmt.Errorf("matcher tree type %T: the envoy model does not know it", t)
	}
	if next != nil {
		if name, ok, err := onMatch(next, dst, appProtocol, steps); err != nil || ok {
			return name, ok, err
		}
	}
	if nm := m.GetOnNoMatch(); nm != nil {
		*steps = append(*steps, "on_no_match")
		return onMatch(nm, dst, appProtocol, steps)
	}
	return "", false, nil
}

func onMatch(o *matcher.Matcher_OnMatch, dst netip.AddrPort, appProtocol string, steps *[]string) (string, bool, error) {
	if a := o.GetAction(); a != nil {
		v := &wrapperspb.StringValue{}
		if err := a.GetTypedConfig().UnmarshalTo(v); err != nil {
			return "", false, fmt.Errorf("matcher action %s is not a chain name: %w", a.GetName(), err)
		}
		return v.GetValue(), true, nil
	}
	return runMatcher(o.GetMatcher(), dst, appProtocol, steps)
}

func mapKeys(m map[string]*matcher.Matcher_OnMatch) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ChainByName returns the listener's filter chain with that name.
func ChainByName(l *listener.Listener, name string) *listener.FilterChain {
	for _, fc := range l.GetFilterChains() {
		if fc.GetName() == name {
			return fc
		}
	}
	return nil
}
