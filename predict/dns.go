package predict

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/predict/generator"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pilot/pkg/controllers/ipallocate"
	"istio.io/istio/pilot/pkg/model"
	autoallocate "istio.io/istio/pilot/pkg/networking/serviceentry"
	"istio.io/istio/pkg/config/schema/gvr"
	dnsserver "istio.io/istio/pkg/dns/server"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient/clienttest"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/test/util/retry"
)

// DNS capture, as predict models it from Istio's own code:
//
//   - which ServiceEntries get an address, and which: Istio's IP allocator
//     controller (pilot/pkg/controllers/ipallocate, on by default since
//     1.25) runs over the scenario's ServiceEntries on a fake API server
//     and writes their status.addresses, which the generator then reads
//     like istiod does (allocatedServiceEntries);
//   - whether the sidecar uses them: the node metadata the agent builds
//     from istio-proxy's ISTIO_META_* environment, which Istio's injector
//     fills from the pod's proxyMetadata (proxyNodeMetadata);
//   - what the agent's DNS proxy answers: the name table istiod sends it
//     (pkg/dns/server BuildNameTable, which the NDS generator calls), for
//     the sidecar's proxy (nameTable);
//   - whether the client's DNS query reaches the agent at all: the pod's
//     nat rules from istio-iptables with its DNS redirect (Resolve).

// istioMetaPrefix is the environment prefix the agent turns into node
// metadata (pkg/bootstrap: IstioMetaPrefix).
const istioMetaPrefix = "ISTIO_META_"

// proxyNodeMetadata is the node metadata istio-agent sends istiod for an
// istio-proxy container with this environment, as pkg/bootstrap's
// GetNodeMetaData builds it from ISTIO_META_* variables: each becomes the
// JSON field of that name, decoded into Istio's own metadata type.
func proxyNodeMetadata(env map[string]string) (model.BootstrapNodeMetadata, error) {
	untyped := map[string]any{}
	for k, v := range env {
		if name, ok := strings.CutPrefix(k, istioMetaPrefix); ok {
			untyped[name] = v
		}
	}
	var meta model.BootstrapNodeMetadata
	j, err := json.Marshal(untyped)
	if err == nil {
		err = json.Unmarshal(j, &meta)
	}
	if err != nil {
		return meta, fmt.Errorf("reading istio-proxy's ISTIO_META_* environment %v as node metadata: %w", untyped, err)
	}
	return meta, nil
}

// allocations memoises allocatedServiceEntries by ServiceEntry specs:
// every scenario with a ServiceEntry asks several times.
var allocations = struct {
	sync.Mutex
	m map[string]*allocation
}{m: map[string]*allocation{}}

type allocation struct {
	once sync.Once
	ses  []*networkingv1.ServiceEntry
	err  error
}

// allocatedServiceEntries returns the ServiceEntries as istiod reads them
// once Istio's IP allocator controller has run: with status.addresses
// for those it allocates to (resolution DNS or STATIC, no spec addresses,
// not opted out). The controller runs on a fake API server, as Istio's
// own tests of it do; the addresses are the controller's, never written
// here.
func allocatedServiceEntries(ses []*networkingv1.ServiceEntry) ([]*networkingv1.ServiceEntry, error) {
	if len(ses) == 0 {
		return nil, nil
	}
	key, err := json.Marshal(ses)
	if err != nil {
		return nil, err
	}
	allocations.Lock()
	a, ok := allocations.m[string(key)]
	if !ok {
		a = &allocation{}
		allocations.m[string(key)] = a
	}
	allocations.Unlock()
	a.once.Do(func() { a.ses, a.err = runIPAllocator(ses) })
	return a.ses, a.err
}

func runIPAllocator(ses []*networkingv1.ServiceEntry) ([]*networkingv1.ServiceEntry, error) {
	generator.PrepareIstio()
	var out []*networkingv1.ServiceEntry
	err := test.Wrap(func(t test.Failer) {
		stop := test.NewStop(t)
		c := kubelib.NewFakeClient()
		clienttest.MakeCRD(t, c, gvr.ServiceEntry)
		client := clienttest.NewDirectClient[*networkingv1.ServiceEntry, networkingv1.ServiceEntry, *networkingv1.ServiceEntryList](t, c)
		allocator := ipallocate.NewIPAllocator(stop, c)
		for _, se := range ses {
			client.Create(se.DeepCopy())
		}
		go allocator.Run(stop)
		c.RunAndWait(stop)
		retry.UntilOrFail(t, allocator.HasSynced, retry.Delay(time.Millisecond), retry.Timeout(10*time.Second))
		for _, se := range ses {
			if !autoallocate.ShouldV2AutoAllocateIP(se) {
				out = append(out, se)
				continue
			}
			var got *networkingv1.ServiceEntry
			retry.UntilOrFail(t, func() bool {
				got = client.Get(se.Name, se.Namespace)
				return got != nil && len(got.Status.Addresses) > 0
			}, retry.Delay(time.Millisecond), retry.Timeout(10*time.Second))
			withStatus := se.DeepCopy()
			withStatus.Status = *got.Status.DeepCopy()
			out = append(out, withStatus)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("running Istio's IP allocator controller over the scenario's ServiceEntries: %w", err)
	}
	return out, nil
}

// NameTable is what the agent's DNS proxy answers from: host → addresses,
// as istiod builds it for the sidecar.
type NameTable map[string][]string

// nameTable builds the sidecar's name table with Istio's BuildNameTable,
// the function the NDS generator (pilot/pkg/xds/nds.go) calls.
func nameTable(proxy *model.Proxy, push *model.PushContext) NameTable {
	nt := dnsserver.BuildNameTable(dnsserver.Config{Node: proxy, Push: push})
	out := NameTable{}
	for host, info := range nt.GetTable() {
		out[host] = slices.Clone(info.GetIps())
	}
	return out
}

// Resolution is what the client's resolver got for the name it dials.
type Resolution struct {
	Name string
	Addr netip.Addr
	// ByAgent is true when the sidecar's DNS proxy answered from its name
	// table; false when the cluster's DNS did (not captured, or not in
	// the table).
	ByAgent bool
	Trace   []envoy.Step
}

// upstreamAnswer is what the cluster's DNS answers for a name outside the
// mesh: the ServiceEntry's host is the external server's public name, so
// it resolves to the server's IP (fixtures.ServiceEntryHost).
func upstreamAnswer(b *fixtures.Bundle, name string) (netip.Addr, bool) {
	if name != fixtures.ServiceEntryHost(b.Scenario) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(b.Topology.ServerIP)
	return a, err == nil
}

// dnsPort is where resolvers listen; agentDNSPort is the agent's DNS
// proxy, where istio-iptables redirects captured queries
// (constants.IstioAgentDNSListenerPort).
const dnsPort = 53

// Resolve follows the client's lookup of name: its query (UDP to the pod's
// nameserver, port 53) walks the pod's nat OUTPUT chain as istio-iptables
// built it; redirected, the agent's DNS proxy answers from the sidecar's
// name table (table, nil without a sidecar) and forwards names it does
// not hold to the nameserver; not redirected, the nameserver answers.
func resolve(b *fixtures.Bundle, pod capture.CapturePod, table NameTable, name string, appUID uint32) (Resolution, error) {
	r := Resolution{Name: name}
	add := func(format string, args ...any) {
		r.Trace = append(r.Trace, envoy.Step{Stage: "dns", Decision: fmt.Sprintf(format, args...)})
	}
	if len(pod.Nameservers) == 0 {
		return r, fmt.Errorf("scenario %s dials %s, but the client pod's nameserver is unknown: set Topology.DNSServerIP", b.Scenario.ID, name)
	}
	ns := netip.AddrPortFrom(pod.Nameservers[0], dnsPort)
	add("the client resolves %s: its resolver sends the query to the pod's nameserver %s (UDP)", name, ns)
	redirected := false
	if table != nil {
		_, rules, err := capture.PodRules(pod)
		if err != nil {
			return r, err
		}
		v, err := rules.Output(capture.Packet{Src: pod.IP, Dst: ns, Protocol: "udp", UID: appUID, GID: appUID, OutInterface: "eth0"})
		if err != nil {
			return r, err
		}
		for _, hit := range v.Path {
			add("%s", hit)
		}
		redirected = v.Redirect
		if redirected {
			add("the query is redirected to port %d: istio-agent's DNS proxy", v.ToPort)
		} else {
			add("the query is not redirected (no DNS capture): it reaches the nameserver")
		}
	} else {
		add("the client pod has no sidecar: nothing captures the query")
	}
	upstream := func(who string) (Resolution, error) {
		a, ok := upstreamAnswer(b, name)
		if !ok {
			return r, fmt.Errorf("scenario %s: the cluster's DNS does not know %s: predict models only the ServiceEntry host %s", b.Scenario.ID, name, fixtures.ServiceEntryHost(b.Scenario))
		}
		r.Addr = a
		add("%s: the cluster's DNS answers %s → %s (the server's public address)", who, name, a)
		return r, nil
	}
	if !redirected {
		return upstream("nameserver")
	}
	ips, ok := table[name]
	if !ok {
		return upstream(fmt.Sprintf("istiod's name table for the sidecar has no %s, so the agent forwards the query", name))
	}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err == nil && a.Is4() == pod.IP.Is4() {
			r.Addr, r.ByAgent = a, true
			add("istiod's name table for the sidecar (BuildNameTable, as NDS sends it) has %s → %v: the agent answers %s", name, ips, a)
			return r, nil
		}
	}
	return r, fmt.Errorf("scenario %s: the name table has %s → %v, with no address of the pod's family", b.Scenario.ID, name, ips)
}
