// Package generator is the adapter between predict and Istio's config
// generator as the istio.io/istio module linked into this binary provides
// it: which Istio build that is (version.go: its release line, branch,
// date and commit, and the proxy version to announce), which features it
// has that scenarios may need (features*.go; hack/predict-lines.sh
// builds older lines with a build tag), and how it runs here (a fake
// Kubernetes client that keeps objects' namespaces and names, and Istio's
// logging turned off).
//
// Feeding a scenario's rendered objects to the generator (predict's
// generate.go and kubeobjects.go) stays in predict, next to the
// Predictor's cache of generations that it fills.
package generator
