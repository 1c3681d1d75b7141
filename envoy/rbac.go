package envoy

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfig "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/wellknown"
)

// Envoy's network RBAC filter (envoy.filters.network.rbac) is how Istio
// enforces an AuthorizationPolicy on a TCP port. Predict evaluates its
// policy as data, for one connection, with only what a TCP connection
// carries: the peer's mTLS identity, the destination port and address,
// the SNI. A rule the envoy model does not know is an error naming it, never a
// guess.
//
// When it decides matters as much as what: the filter checks the policy
// in onData, on the first bytes the downstream sends, not when the
// connection is accepted. Evidence:
//   - the RBAC network filter's own API (rbac.proto, enforcement_type):
//     "By default RBAC will be enforced only once when the first byte of
//     data arrives from the downstream";
//   - Envoy issue #9023 (open): with network.rbac in front of tcp_proxy the
//     upstream connection is made whatever RBAC decides; the fix Envoy
//     documented (PR #42392) is tcp_proxy's upstream_connect_mode
//     ON_DOWNSTREAM_DATA, which Istio does not set, and whose own docs warn
//     it does not suit server-first protocols; the proposed
//     enforce_on_transport_ready option (PR #42390) was not merged and is
//     not in the RBAC API this model is built with;
//   - Istio's security best practices, "Server-first TCP protocols are not
//     supported": "the initial first bytes sent by the server are returned
//     to the client directly without going through the access control
//     check of the authorization policy". That holds under mTLS too: the
//     principal is known after the handshake, but the check still waits
//     for client data.
//   - on mTLS chains Istio's istio.metadata_exchange filter sits in front
//     of RBAC; it swaps a header with the client sidecar's own filter, and
//     each side consumes the other's, so the bytes RBAC decides on are
//     still the client application's first.
// So tcp_proxy (upstream_connect_mode IMMEDIATE, the default) has already
// dialled the server when RBAC decides: a server-first server's greeting
// reaches a denied client before the close.

// RBACDenial is what a deny does to a connection, by what its client sends
// first (the evidence above): a silent client (server-first) has the
// server's greeting relayed before RBAC sees a byte, answers it, and is
// closed on that answer (protocol-error, server bytes before the deny); a
// client that speaks first is closed on its own first bytes before
// tcp_proxy relays anything (reset, no server byte).
func RBACDenial(clientSends ClientBytes) (outcome scenarios.Outcome, serverBytesFirst bool) {
	if clientSends == NoClientBytes {
		return scenarios.ProtocolError, true
	}
	return scenarios.Reset, false
}

// RBACPeer is what the RBAC filter knows about a connection.
type RBACPeer struct {
	// Principal is the peer certificate's URI SAN under mTLS; empty for
	// plaintext (no TLS, so "authenticated" never matches).
	Principal string
	TLS       bool
	Source    netip.Addr
	// Destination is the connection's local address: the pod IP and port
	// the client dialled.
	Destination netip.AddrPort
	SNI         string
}

// RBACVerdict is one RBAC filter's decision.
type RBACVerdict struct {
	Filter string
	// Enforced is false when the filter has no enforcing rules (only
	// shadow rules, or none): it allows everything.
	Enforced bool
	Allowed  bool
	// Policy is the matching policy's name, if any.
	Policy string
	Notes  []string
}

// RBACFilters evaluates every network RBAC filter on a chain, in order,
// stopping at the first that denies.
func RBACFilters(fc *listener.FilterChain, peer RBACPeer) ([]RBACVerdict, error) {
	var out []RBACVerdict
	for _, f := range fc.GetFilters() {
		if !IsNetworkRBAC(f) {
			continue
		}
		cfg := &rbac.RBAC{}
		if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
			return out, fmt.Errorf("decoding %s on chain %s: %w", f.GetName(), fc.GetName(), err)
		}
		v, err := evaluateRBAC(cfg, peer)
		if err != nil {
			return out, fmt.Errorf("%s on chain %s: %w", f.GetName(), fc.GetName(), err)
		}
		v.Filter = f.GetName()
		out = append(out, v)
		if !v.Allowed {
			break
		}
	}
	return out, nil
}

// IsNetworkRBAC reports whether f is Envoy's network RBAC filter.
func IsNetworkRBAC(f *listener.Filter) bool {
	return f.GetName() == wellknown.RoleBasedAccessControl || strings.Contains(f.GetTypedConfig().GetTypeUrl(), ".network.rbac.")
}

// evaluateRBAC is the filter's enforced engine for one connection.
func evaluateRBAC(cfg *rbac.RBAC, peer RBACPeer) (RBACVerdict, error) {
	v := RBACVerdict{Allowed: true}
	if cfg.GetShadowRules() != nil || cfg.GetShadowMatcher() != nil {
		v.Notes = append(v.Notes, "shadow rules are present: they only count stats (Istio's dry-run policies), never close a connection")
	}
	if cfg.GetMatcher() != nil {
		return v, fmt.Errorf("the filter uses a matcher tree, which the envoy model does not evaluate: teach envoy/rbac.go the matcher API")
	}
	if cfg.GetEnforcementType() == rbac.RBAC_CONTINUOUS {
		v.Notes = append(v.Notes, "enforcement_type CONTINUOUS: the policy is checked on every read, first on the first client bytes")
	}
	if d := cfg.GetDelayDeny(); d != nil {
		v.Notes = append(v.Notes, fmt.Sprintf("delay_deny %s: a denied connection is closed that much later", d.AsDuration()))
	}
	rules := cfg.GetRules()
	if rules == nil {
		v.Notes = append(v.Notes, "no enforcing rules: everything is allowed")
		return v, nil
	}
	v.Enforced = true
	names := make([]string, 0, len(rules.GetPolicies()))
	for n := range rules.GetPolicies() {
		names = append(names, n)
	}
	sort.Strings(names) // Envoy's map order is unspecified too; the result does not depend on it
	for _, n := range names {
		ok, err := policyMatches(rules.GetPolicies()[n], peer)
		if err != nil {
			return v, fmt.Errorf("policy %s: %w", n, err)
		}
		if ok {
			v.Policy = n
			break
		}
	}
	switch rules.GetAction() {
	case rbacconfig.RBAC_ALLOW:
		v.Allowed = v.Policy != ""
	case rbacconfig.RBAC_DENY:
		v.Allowed = v.Policy == ""
	case rbacconfig.RBAC_LOG:
		v.Allowed = true
	default:
		return v, fmt.Errorf("unknown RBAC action %s", rules.GetAction())
	}
	return v, nil
}

// Decision is the verdict in words.
func (v RBACVerdict) Decision() string {
	switch {
	case !v.Enforced:
		return "no enforcing rules: allowed"
	case v.Allowed && v.Policy != "":
		return fmt.Sprintf("ALLOW policy %s matches: allowed", v.Policy)
	case v.Allowed:
		return "no DENY policy matches: allowed"
	case v.Policy != "":
		return fmt.Sprintf("DENY policy %s matches: denied", v.Policy)
	default:
		return "no ALLOW policy matches: denied"
	}
}

func policyMatches(p *rbacconfig.Policy, peer RBACPeer) (bool, error) {
	if p.GetCondition() != nil || p.GetCheckedCondition() != nil {
		return false, fmt.Errorf("the policy has a CEL condition, which the envoy model does not evaluate")
	}
	perm, err := anyOf(p.GetPermissions(), func(x *rbacconfig.Permission) (bool, error) { return permissionMatches(x, peer) })
	if err != nil || !perm {
		return false, err
	}
	return anyOf(p.GetPrincipals(), func(x *rbacconfig.Principal) (bool, error) { return principalMatches(x, peer) })
}

func anyOf[T any](xs []T, f func(T) (bool, error)) (bool, error) {
	for _, x := range xs {
		ok, err := f(x)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func allOf[T any](xs []T, f func(T) (bool, error)) (bool, error) {
	for _, x := range xs {
		ok, err := f(x)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func permissionMatches(p *rbacconfig.Permission, peer RBACPeer) (bool, error) {
	rec := func(x *rbacconfig.Permission) (bool, error) { return permissionMatches(x, peer) }
	switch r := p.GetRule().(type) {
	case *rbacconfig.Permission_Any:
		return r.Any, nil
	case *rbacconfig.Permission_AndRules:
		return allOf(r.AndRules.GetRules(), rec)
	case *rbacconfig.Permission_OrRules:
		return anyOf(r.OrRules.GetRules(), rec)
	case *rbacconfig.Permission_NotRule:
		ok, err := rec(r.NotRule)
		return !ok, err
	case *rbacconfig.Permission_DestinationPort:
		return r.DestinationPort == uint32(peer.Destination.Port()), nil
	case *rbacconfig.Permission_DestinationPortRange:
		port := int32(peer.Destination.Port())
		return port >= r.DestinationPortRange.GetStart() && port < r.DestinationPortRange.GetEnd(), nil
	case *rbacconfig.Permission_DestinationIp:
		return cidrContains(r.DestinationIp.GetAddressPrefix(), r.DestinationIp.GetPrefixLen().GetValue(), peer.Destination.Addr())
	case *rbacconfig.Permission_RequestedServerName:
		return stringMatches(r.RequestedServerName, peer.SNI)
	case *rbacconfig.Permission_Header, *rbacconfig.Permission_UrlPath, *rbacconfig.Permission_UriTemplate:
		// The network filter has no HTTP request: Envoy treats these as
		// not matching (rbac.proto: header is HTTP-only).
		return false, nil
	default:
		return false, fmt.Errorf("permission %T is not evaluated by the envoy model: extend envoy/rbac.go", r)
	}
}

func principalMatches(p *rbacconfig.Principal, peer RBACPeer) (bool, error) {
	rec := func(x *rbacconfig.Principal) (bool, error) { return principalMatches(x, peer) }
	switch id := p.GetIdentifier().(type) {
	case *rbacconfig.Principal_Any:
		return id.Any, nil
	case *rbacconfig.Principal_AndIds:
		return allOf(id.AndIds.GetIds(), rec)
	case *rbacconfig.Principal_OrIds:
		return anyOf(id.OrIds.GetIds(), rec)
	case *rbacconfig.Principal_NotId:
		ok, err := rec(id.NotId)
		return !ok, err
	case *rbacconfig.Principal_Authenticated_:
		// Envoy's AuthenticatedMatcher: no TLS, no match; no
		// principal_name, any peer certificate matches; otherwise the
		// URI SAN (Istio's SPIFFE identity) is compared.
		if !peer.TLS || peer.Principal == "" {
			return false, nil
		}
		if id.Authenticated.GetPrincipalName() == nil {
			return true, nil
		}
		return stringMatches(id.Authenticated.GetPrincipalName(), peer.Principal)
	case *rbacconfig.Principal_DirectRemoteIp:
		return cidrContains(id.DirectRemoteIp.GetAddressPrefix(), id.DirectRemoteIp.GetPrefixLen().GetValue(), peer.Source)
	case *rbacconfig.Principal_RemoteIp:
		return cidrContains(id.RemoteIp.GetAddressPrefix(), id.RemoteIp.GetPrefixLen().GetValue(), peer.Source)
	case *rbacconfig.Principal_SourceIp: //nolint:staticcheck // deprecated, still emitted by old control planes
		return cidrContains(id.SourceIp.GetAddressPrefix(), id.SourceIp.GetPrefixLen().GetValue(), peer.Source)
	case *rbacconfig.Principal_Header, *rbacconfig.Principal_UrlPath:
		return false, nil
	default:
		return false, fmt.Errorf("principal %T is not evaluated by the envoy model: extend envoy/rbac.go", id)
	}
}

func cidrContains(prefix string, bits uint32, a netip.Addr) (bool, error) {
	if !a.IsValid() {
		return false, nil
	}
	ip, err := netip.ParseAddr(prefix)
	if err != nil {
		return false, fmt.Errorf("CIDR %s/%d: %w", prefix, bits, err)
	}
	p, err := ip.Prefix(int(bits))
	if err != nil {
		return false, fmt.Errorf("CIDR %s/%d: %w", prefix, bits, err)
	}
	return p.Contains(a), nil
}

func stringMatches(m *matcher.StringMatcher, s string) (bool, error) {
	if m.GetIgnoreCase() {
		s = strings.ToLower(s)
	}
	lower := func(x string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(x)
		}
		return x
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return s == lower(p.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(s, lower(p.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(s, lower(p.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(s, lower(p.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, fmt.Errorf("regex %q: %w", p.SafeRegex.GetRegex(), err)
		}
		return re.MatchString(s), nil
	default:
		return false, fmt.Errorf("string matcher %T is not evaluated by the envoy model", p)
	}
}
