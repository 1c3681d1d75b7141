// Package predict predicts each scenario's outcome from Istio's own code,
// without sending a byte: the walk that the predict target
// (targets/predict), the local target's decision tables, analyze and the
// live explain of kind evidence all run.
//
// The pipeline follows the connection:
//
//  1. Capture (package predict/capture): Istio's sidecar injector renders
//     the client pod's istio-init arguments from its annotations, Istio's
//     istio-iptables builder turns them into iptables rules, and the nat
//     OUTPUT chain is walked for the destination: redirected to the
//     sidecar, or not captured at all.
//  2. Generate (generate.go, kubeobjects.go): the scenario's rendered
//     fixtures (Services, ServiceEntries, Sidecars, meshConfig) are fed to
//     Istio's config generator (pilot's FakeDiscoveryServer), which builds
//     the client sidecar's listeners, clusters, routes and endpoints.
//  3. Evaluate (evaluate.go, inbound.go, inbound_chain.go, inbound_tcp.go,
//     path.go, ambient.go): the walk follows the connection through the
//     sidecar's configuration. Envoy's run-time behaviour comes from
//     package envoy: Istio's pilot/pkg/simulation picks the listener and
//     filter chain (envoy.Config.ChooseListener, ChooseChain), and the
//     envoy model adds what the simulation lacks and Envoy decides at run
//     time: whether a listener inspector waits for client bytes and what
//     comes of the wait (envoy.ListenerFilters.Wait), which transport
//     socket and upstream a cluster gives, what RBAC decides. The walk
//     adds who speaks first and turns Envoy's decisions into an outcome
//     and an explain trace.
//
// A scenario whose client dials a name (dns.go) resolves it first: its
// DNS query walks the same nat rules (with DNS capture, istio-iptables
// redirects it to the agent on 15053), the agent answers from the name
// table Istio's BuildNameTable makes for the sidecar, holding the address
// Istio's IP allocator controller wrote into the ServiceEntry's status,
// and the connection then goes to that address.
//
// The evaluator takes Envoy configuration as data (envoy.Config), so it
// explains a live sidecar's admin /config_dump (envoy.ReadConfigDump)
// exactly as it explains a generated one. Every decision is recorded as an
// envoy.Step; a Prediction prints as an explain trace.
//
// Predictor runs the pipeline per scenario, in parallel, generating each
// distinct set of objects once; the predict target runs it.
//
// Where the seams are: capture (predict/capture), Istio's build and
// features (predict/generator) and Envoy's model (package envoy) are
// packages of their own because nothing in them needs the walk. The
// ambient walk (ambient.go, ambient_expect.go) stays here on purpose: it
// reads the same generation as the sidecar walk (one Predictor cache
// holds the sidecars, the waypoint and ztunnel's WDS view of one set of
// objects) and yields the same Prediction, so a package of its own would
// have to import this one and be imported by it. Istio's
// generator is a test fixture that wants a test.Failer: generate.go runs
// it under test.Wrap, which turns a failure into an error.
package predict
