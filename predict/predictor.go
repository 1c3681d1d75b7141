package predict

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
)

// AppUID is the user the client application runs as in predictions: the
// agent image does not set one, so root. Only "not the proxy's user"
// matters to the capture rules.
const AppUID = 0

// Predictor predicts scenarios. It is safe for concurrent use and
// remembers each distinct generator input, so scenarios that give Istio
// the same objects (mysql and smtp on one port, say) run the generator
// once.
type Predictor struct {
	topology fixtures.Topology
	mu       sync.Mutex
	cache    map[string]*generation
	// Generations counts how often Istio's generator actually ran.
	Generations atomic.Int64
	// rejection says why this Istio's validation refuses a rendered
	// scenario, or "" (generator.Rejection; tests swap in their own).
	rejection func(*fixtures.Bundle) string
	// inputs remembers each bundle's generator input while the bundle
	// lives: a row's phases (deploy, probe, collider check) each ask for
	// it, and deriving it (deep copies, pod admission, Istio's IP
	// allocator) was a tenth of the catalogue's CPU.
	inputMu sync.Mutex
	inputs  map[weak.Pointer[fixtures.Bundle]]*derivedInput
}

// derivedInput is one bundle's generator input, derived once.
type derivedInput struct {
	once sync.Once
	in   generatorInput
	err  error
}

// inputOf returns inputFor(b), derived once per bundle. A Bundle is not
// changed after Render, so its input cannot go stale; the entry goes when
// the bundle is collected.
func (p *Predictor) inputOf(b *fixtures.Bundle) (generatorInput, error) {
	k := weak.Make(b)
	p.inputMu.Lock()
	if p.inputs == nil {
		p.inputs = map[weak.Pointer[fixtures.Bundle]]*derivedInput{}
	}
	d, ok := p.inputs[k]
	if !ok {
		d = &derivedInput{}
		p.inputs[k] = d
		runtime.AddCleanup(b, func(k weak.Pointer[fixtures.Bundle]) {
			p.inputMu.Lock()
			delete(p.inputs, k)
			p.inputMu.Unlock()
		}, k)
	}
	p.inputMu.Unlock()
	d.once.Do(func() { d.in, d.err = inputFor(b) })
	return d.in, d.err
}

type generation struct {
	once sync.Once
	// cfgs are the sidecars' configurations by Deployment name.
	cfgs generatedProxies
	err  error
}

// NewPredictor returns a Predictor with an empty cache, rendering
// scenarios for Topology().
func NewPredictor() *Predictor { return newPredictorFor(Topology()) }

// newPredictorFor returns a Predictor that renders scenarios for another
// topology, such as the local target's addresses.
func newPredictorFor(t fixtures.Topology) *Predictor {
	return &Predictor{topology: t, cache: map[string]*generation{}, rejection: generator.Rejection}
}

// Render renders a scenario for predict's topology.
func (p *Predictor) Render(s scenarios.Scenario) (*fixtures.Bundle, error) {
	return fixtures.Render(s, p.topology)
}

// Sidecar returns the client sidecar's configuration for a bundle, from
// the cache or Istio's generator.
func (p *Predictor) Sidecar(b *fixtures.Bundle) (*envoy.Config, error) {
	return p.SidecarOf(b, ClientPod)
}

// ServerSidecar returns the server sidecar's configuration for a bundle
// whose server runs one.
func (p *Predictor) ServerSidecar(b *fixtures.Bundle) (*envoy.Config, error) {
	return p.SidecarOf(b, ServerPod)
}

// SidecarOf returns the configuration of the named pod's sidecar ("client"
// or "server"). One generator run builds every sidecar of the bundle.
func (p *Predictor) SidecarOf(b *fixtures.Bundle, pod string) (*envoy.Config, error) {
	in, err := p.inputOf(b)
	if err != nil {
		return nil, err
	}
	return p.sidecarOf(b, in, pod)
}

// sidecarOf is SidecarOf for input already derived from the bundle.
func (p *Predictor) sidecarOf(b *fixtures.Bundle, in generatorInput, pod string) (*envoy.Config, error) {
	if _, ok := in.sidecars[pod]; !ok {
		return nil, noSidecar(b, in, pod)
	}
	cfgs, err := p.generated(b, in)
	return cfgs.proxies[pod], err
}

// generated returns every proxy configuration of the bundle's generation
// (sidecars, and for ambient scenarios the waypoint and ztunnel's view),
// from the cache or Istio's generator.
func (p *Predictor) generated(b *fixtures.Bundle, in generatorInput) (generatedProxies, error) {
	p.mu.Lock()
	g, ok := p.cache[in.key]
	if !ok {
		g = &generation{}
		p.cache[in.key] = g
	}
	p.mu.Unlock()
	g.once.Do(func() {
		p.Generations.Add(1)
		g.cfgs, g.err = generate(in, b.Scenario.ID)
	})
	return g.cfgs, g.err
}

// PodSidecar is one of a bundle's pods as Istio's injection leaves it.
type PodSidecar struct {
	// Injected is true when the pod runs a sidecar; Why says why or why
	// not, in words.
	Injected bool
	Why      string
	// Capture is what istio-iptables reads for the pod: its annotations
	// (the pod template's) at the IP the topology gives it.
	Capture capture.CapturePod
	// DNSCapture is true when the pod's agent captures DNS (its node
	// metadata ISTIO_META_DNS_CAPTURE): it runs the DNS proxy on 15053.
	DNSCapture bool
}

// PodOf returns what Istio's injection makes of the bundle's named pod
// (ClientPod or ServerPod). It needs no generator run.
func PodOf(b *fixtures.Bundle, name string) (PodSidecar, error) {
	in, err := inputFor(b)
	if err != nil {
		return PodSidecar{}, err
	}
	sc, ok := in.sidecars[name]
	out := PodSidecar{Injected: ok, Why: in.injection[name].Why, Capture: capture.CapturePod{IP: podIPs(b.Topology)[name], Nameservers: Nameservers(b.Topology)}}
	if ok {
		out.Capture.Annotations = sc.Annotations
		out.DNSCapture = sc.DNSCapture
	}
	return out, nil
}

// Destination is where the scenario's client connects: the external
// server's IP, or the server Service's ClusterIP (what its DNS name
// resolves to).
func Destination(b *fixtures.Bundle) (netip.AddrPort, error) {
	host := b.Topology.ServerIP
	if b.Scenario.Placement == scenarios.InMesh {
		host = b.Topology.ServerClusterIP
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("scenario %s: the server address %q is not an IP: set Topology.ServerIP and Topology.ServerClusterIP", b.Scenario.ID, host)
	}
	return netip.AddrPortFrom(a, uint16(b.Scenario.Port)), nil
}

// Predict predicts one scenario: capture, then (when captured) Istio's
// generator and the evaluator.
func (p *Predictor) Predict(s scenarios.Scenario) (Prediction, error) {
	b, err := p.Render(s)
	if err != nil {
		return Prediction{}, err
	}
	return p.PredictBundle(b)
}

// PredictBundle predicts a rendered scenario: the client side (capture,
// the client sidecar's outbound walk and how its connection leaves), then
// the server side when it has a sidecar (walkSides).
func (p *Predictor) PredictBundle(b *fixtures.Bundle) (Prediction, error) {
	dst, err := Destination(b)
	if err != nil {
		return Prediction{}, err
	}
	in, err := p.inputOf(b)
	if err != nil {
		return Prediction{}, err
	}
	sides := p.sides(b, in)
	var dns []envoy.Step
	if b.Scenario.DialsName() {
		res, err := p.ResolveServer(b)
		if err != nil {
			return Prediction{}, fmt.Errorf("predicting %s: %w", b.Scenario.ID, err)
		}
		dst, dns = netip.AddrPortFrom(res.Addr, dst.Port()), res.Trace
	}
	conn := protocolConnection(b.Scenario.Protocol, dst)
	if b.Scenario.Ambient != nil {
		pr, err := p.walkAmbient(b, in, conn)
		if err != nil {
			return pr, fmt.Errorf("predicting %s: %w", b.Scenario.ID, err)
		}
		return pr, nil
	}
	pr, err := walkSides(sides, conn, AppUID)
	pr.Trace = append(dns, pr.Trace...)
	if err != nil {
		return pr, fmt.Errorf("predicting %s: %w", b.Scenario.ID, err)
	}
	return pr, nil
}

// ResolveServer follows the client's lookup of the name a dial: name
// scenario dials (the ServiceEntry's host) through the client pod's
// capture rules and, when captured, its sidecar's name table.
func (p *Predictor) ResolveServer(b *fixtures.Bundle) (Resolution, error) {
	in, err := p.inputOf(b)
	if err != nil {
		return Resolution{}, err
	}
	s := baseSides(b, in, podIPs(b.Topology)[ClientPod], podIPs(b.Topology)[ServerPod])
	var table NameTable
	if s.NoClientSidecar == "" {
		cfg, err := p.sidecarOf(b, in, ClientPod)
		if err != nil {
			return Resolution{}, err
		}
		table = cfg.NameTable
		if table == nil {
			table = NameTable{}
		}
	}
	return resolve(b, s.Client, table, fixtures.ServiceEntryHost(b.Scenario), AppUID)
}

// Nameservers is the client pod's resolv.conf nameserver list for a
// topology: its DNSServerIP, or none.
func Nameservers(t fixtures.Topology) []netip.Addr {
	a, err := netip.ParseAddr(t.DNSServerIP)
	if err != nil {
		return nil
	}
	return []netip.Addr{a}
}

// Result is one scenario's prediction, or the error that prevented it.
type Result struct {
	Scenario   scenarios.Scenario
	Prediction Prediction
	Err        error
	Took       time.Duration
	// Skipped names what predict lacks for this scenario; the table
	// counts it as skipped, never as a pass.
	Skipped string
	// Needs says which newer Istio the scenario needs ("needs Istio ≥
	// 1.31: ... rejects it: <validation error>"): the running line's own
	// validation refuses its objects or meshConfig, so it is not
	// predicted, and that is neither a pass nor an error.
	Needs string
}

// predictAll predicts scenarios in parallel, keeping their order.
func (p *Predictor) predictAll(list []scenarios.Scenario) []Result {
	out := make([]Result, len(list))
	// Istio's generator spends part of its time waiting on informer syncs
	// and polling for its first push; measured on 2 cores, 4 generations
	// per core beat 1 and 2 (1.04s against 1.30s and 1.21s for the
	// catalogue) and 8 gained nothing.
	sem := make(chan struct{}, 4*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			b, err := p.Render(s)
			if err != nil {
				out[i] = Result{Scenario: s, Err: err, Took: time.Since(start)}
				return
			}
			if needs := p.rejection(b); needs != "" {
				out[i] = Result{Scenario: s, Needs: needs}
				return
			}
			pr, err := p.PredictBundle(b)
			out[i] = Result{Scenario: s, Prediction: pr, Err: err, Took: time.Since(start)}
		}()
	}
	wg.Wait()
	return out
}

// Generate runs Istio's generator for a bundle's objects, once per distinct
// set of objects, and returns every proxy's configuration by pod name.
func (p *Predictor) Generate(b *fixtures.Bundle) (map[string]*envoy.Config, error) {
	in, err := p.inputOf(b)
	if err != nil {
		return nil, err
	}
	g, err := p.generated(b, in)
	return g.proxies, err
}

// Rejection says why this build's Istio validation refuses a rendered
// scenario ("needs Istio ≥ 1.32: ... rejects it: ..."), or "" when it
// accepts it and predict predicts what its generator builds.
func Rejection(b *fixtures.Bundle) string { return generator.Rejection(b) }
