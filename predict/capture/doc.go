// Package capture is the kernel's half of a connection's way into a
// sidecar, and how a pod gets one: Istio's sidecar injector (the
// istio-sidecar-injector templates and webhooks rendered from the charts
// compiled into the istio module) decides whether a pod runs a sidecar and
// renders its istio-init arguments from its annotations; Istio's
// istio-iptables builder turns them into iptables rules; and the nat
// OUTPUT (outbound) or PREROUTING (inbound) chain is walked for a
// connection's first packet: redirected to the sidecar, or not captured.
//
// predict's walk calls it before the Envoy model; the local target
// programs the same rules into its network namespaces.
package capture
