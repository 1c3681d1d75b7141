// Package envoy is firstbyte's one model of what Envoy does at run time
// that its configuration alone does not show: which listener takes a
// connection and what its listener filters wait for (listener_filters_timeout,
// continue_on_listener_filters_timeout, the virtualOutbound hand-off), which
// filter chain the bytes the client sends select, what the chain's network
// filter and cluster do with the connection, and how an admin
// /config_dump reads as configuration.
//
// It owns a small vocabulary — ClientBytes (what the client sends first),
// ListenerDecision and ChainDecision (the two halves of Envoy's choice,
// with the client's first bytes or the listener filter timeout in
// between), Wait (the listener-filter state machine's answer) and Step (one
// decision of an explain trace) — and cites the Envoy source of every
// run-time rule next to the code that applies it.
//
// Istio's pilot/pkg/simulation chooses listeners and chains on the
// configuration; this package adds what the simulation lacks. The
// predictor's walk (package predict), the local target's data-plane
// emulator and the cluster targets' sidecar wait all import it, and none of
// them carries an Envoy rule of its own. It imports none of them.
package envoy
