package envoy

// Step is one decision on the connection's way, in words: a line of an
// explain trace.
type Step struct {
	// Stage is what decided: capture, config, listener, listener filters,
	// filter chain, network filter, cluster, outcome.
	Stage    string `json:"stage"`
	Decision string `json:"decision"`
}
