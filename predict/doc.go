// Package predict is firstbyte's offline target: it predicts each
// scenario's outcome from Istio's own code, without sending a byte.
//
// The pipeline follows the connection:
//
//  1. Capture (capture.go, iptables.go): Istio's sidecar injector renders
//     the client pod's istio-init arguments from its annotations, Istio's
//     istio-iptables builder turns them into iptables rules, and the nat
//     OUTPUT chain is walked for the destination: redirected to the
//     sidecar, or not captured at all.
//  2. Generate (generate.go, kubeobjects.go): the scenario's rendered
//     fixtures (Services, ServiceEntries, Sidecars, meshConfig) are fed to
//     Istio's config generator (pilot's FakeDiscoveryServer), which builds
//     the client sidecar's listeners, clusters, routes and endpoints.
//  3. Evaluate (decide.go, evaluate.go, inspectors.go, clusters.go):
//     Istio's pilot/pkg/simulation picks the listener and filter chain
//     (ChooseListener, ChooseChain); predict adds what the simulation
//     lacks and Envoy decides at run time: who speaks first, whether a
//     listener inspector waits for client bytes (listener_filters_timeout,
//     continue_on_listener_filters_timeout), what an HTTP connection
//     manager does with a silent client, and what the chosen cluster does
//     with the connection.
//
// A scenario whose client dials a name (dns.go) resolves it first: its
// DNS query walks the same nat rules (with DNS capture, istio-iptables
// redirects it to the agent on 15053), the agent answers from the name
// table Istio's BuildNameTable makes for the sidecar, holding the address
// Istio's IP allocator controller wrote into the ServiceEntry's status,
// and the connection then goes to that address.
//
// The evaluator takes Envoy configuration as data (EnvoyConfig), so it
// explains a live sidecar's admin /config_dump (configdump.go) exactly as
// it explains a generated one. Every decision is recorded as a Step; a
// Prediction prints as an explain trace.
//
// Predictor runs the pipeline per scenario, in parallel, generating each
// distinct set of objects once. The target itself is the package's tests (TestCatalogue, TestExplain):
// Istio's generator is a test fixture and wants a test.Failer, and
// go test is how the suite runs it (make e2e TARGET=predict).
package predict
