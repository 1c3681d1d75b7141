// Package generator is the adapter between predict and Istio's config
// generator as the istio.io/istio module linked into this binary provides
// it: which Istio build that is (version.go: its release line, branch,
// date and commit, read as package istioline reads every line, and the
// proxy version to announce), whether that Istio's own validation accepts
// a scenario's objects and meshConfig (features.go: every Istio line
// predicts what it accepts, with no code of its own), and how it runs
// here (a fake Kubernetes client that keeps objects' namespaces and
// names, and Istio's logging turned off).
//
// Feeding a scenario's rendered objects to the generator (predict's
// generate.go and kubeobjects.go) stays in predict, next to the
// Predictor's cache of generations that it fills.
package generator
