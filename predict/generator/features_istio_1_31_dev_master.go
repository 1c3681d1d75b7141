//go:build istio_1_31_dev_master

package generator

// HasDynamicDNS: Istio master of 2026-04-23 (hack/istio/1.31-dev-master)
// predates pilot's ALLOW_ANY_DYNAMIC_DNS support: its
// pilot/pkg/networking/util has no IsAllowAnyDynamicDNSOutbound.
const HasDynamicDNS = false
