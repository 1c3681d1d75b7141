package configdump

import (
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/envoy/configdump/configdumptest"
	"github.com/google/go-cmp/cmp"
	"istio.io/istio/pkg/wellknown"
)

func load(t *testing.T, name string) *Dump {
	t.Helper()
	data, err := configdumptest.Sample(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data, name, envoy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr(d time.Duration) *time.Duration { return &d }

// listenerView is what the sidecar waits compare of a listener.
type listenerView struct {
	Address          string
	Port             int
	Waiting          []string
	FiltersTimeout   *time.Duration
	Timeout          time.Duration
	PassthroughFirst bool
	HasCluster       []string
}

// TestListeners reads the listeners that decide the outbound families
// from the canned dumps, in strict mode (they are Istio's generator's
// output, which this binary must read whole).
func TestListeners(t *testing.T) {
	cases := []struct {
		dump, listener string
		want           listenerView
	}{
		{"mysql-10000-http", "0.0.0.0_10000", listenerView{Address: "0.0.0.0", Port: 10000, Waiting: []string{wellknown.HTTPInspector}, FiltersTimeout: ptr(0), Timeout: 0, HasCluster: []string{"PassthroughCluster"}}},
		{"mysql-10000-http", "virtualOutbound", listenerView{Address: "0.0.0.0", Port: 15001, Timeout: envoy.DefaultListenerFiltersTimeout, HasCluster: []string{"PassthroughCluster"}}},
		{"mysql-10000-http-protocol-detection-timeout", "0.0.0.0_10000", listenerView{Address: "0.0.0.0", Port: 10000, Waiting: []string{wellknown.HTTPInspector}, FiltersTimeout: ptr(time.Second), Timeout: time.Second, HasCluster: []string{"PassthroughCluster"}}},
		{"mysql-10000-http-serviceentry-tcp", "198.51.100.7_10000", listenerView{Address: "198.51.100.7", Port: 10000, FiltersTimeout: ptr(0), Timeout: 0, HasCluster: []string{"outbound|10000||mysql.external.firstbyte.test"}}},
	}
	for _, c := range cases {
		t.Run(c.dump+"/"+c.listener, func(t *testing.T) {
			d := load(t, c.dump)
			l, ok := d.Listener(c.listener)
			if !ok {
				t.Fatalf("no %s among %v", c.listener, d.ListenerNames())
			}
			got := listenerView{Address: l.Address, Port: l.Port, Waiting: l.Waiting, FiltersTimeout: l.FiltersTimeout, Timeout: l.Timeout()}
			for _, want := range c.want.HasCluster {
				for _, have := range l.TCPProxyClusters {
					if have == want {
						got.HasCluster = append(got.HasCluster, have)
					}
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("listener %s (-want +got):\n%s", c.listener, diff)
			}
			if got, want := l.Waits(), len(c.want.Waiting) > 0; got != want {
				t.Errorf("Waits() = %v, want %v", got, want)
			}
			if got, want := l.Inspects(wellknown.HTTPInspector), len(c.want.Waiting) > 0; got != want {
				t.Errorf("Inspects(http_inspector) = %v, want %v", got, want)
			}
		})
	}
}

// TestClusterTLS reads how a cluster connects: the DestinationRule's TLS
// mode or Istio's auto mTLS.
func TestClusterTLS(t *testing.T) {
	cases := []struct{ dump, cluster, want string }{
		{"mysql-10000-http", "outbound|10000||collider.fb-collider.svc.cluster.local", "auto"},
		{"mysql-inbound-tcp-pa-disable-dr-mtls.client", "outbound|10000||server.fb-server.svc.cluster.local", "mutual"},
		{"mysql-inbound-tcp-pa-disable-dr-disable.client", "outbound|10000||server.fb-server.svc.cluster.local", "plaintext"},
		{"mysql-inbound-tcp-pa-permissive.client", "outbound|10000||server.fb-server.svc.cluster.local", "auto"},
	}
	for _, c := range cases {
		t.Run(c.dump, func(t *testing.T) {
			d := load(t, c.dump)
			cl, ok := d.Cluster(c.cluster)
			if !ok {
				t.Fatalf("no cluster %s among %v", c.cluster, d.ClusterNames())
			}
			if cl.TLS() != c.want {
				t.Errorf("cluster %s connects %s, want %s (%+v)", c.cluster, cl.TLS(), c.want, cl)
			}
		})
	}
}

// TestInbound: the server sidecar's inbound chains for the port show the
// mTLS mode and the authorization policy.
func TestInbound(t *testing.T) {
	type side struct {
		MTLS, Plaintext bool
		RBAC            []string
	}
	cases := []struct {
		id   string
		want side
	}{
		{"mysql-inbound-tcp-pa-disable-dr-disable", side{Plaintext: true}},
		{"mysql-inbound-tcp-pa-permissive-dr-disable", side{MTLS: true, Plaintext: true}},
		{"mysql-inbound-tcp-pa-strict-dr-disable", side{MTLS: true}},
		{"mysql-inbound-tcp-pa-strict-authz-deny", side{MTLS: true, RBAC: []string{"DENY"}}},
		{"mysql-inbound-tcp-pa-strict-authz-allow", side{MTLS: true, RBAC: []string{"ALLOW"}}},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			vi, ok := load(t, c.id+".server").Listener("virtualInbound")
			if !ok {
				t.Fatal("no virtualInbound")
			}
			var got side
			for _, ch := range vi.ChainsFor(10000) {
				got.MTLS = got.MTLS || ch.TerminatesTLS
				got.Plaintext = got.Plaintext || ch.TransportProtocol == "raw_buffer"
				got.RBAC = append(got.RBAC, ch.RBAC...)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("virtualInbound chains for 10000 (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCamelCaseAndErrors: the reader takes camelCase JSON, leaves warming
// listeners out, and refuses what is not a config_dump.
func TestCamelCaseAndErrors(t *testing.T) {
	camel := `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamicListeners":[{"name":"0.0.0.0_25","activeState":{"listener":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"0.0.0.0_25","address":{"socketAddress":{"address":"0.0.0.0","portValue":25}},"listenerFilters":[{"name":"envoy.filters.listener.http_inspector"}],"listenerFiltersTimeout":"1.500s"}}},{"name":"warming","warmingState":{}}]}]}`
	d, err := Parse([]byte(camel), "camel", envoy.Tolerant)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{Name: "0.0.0.0_25", Address: "0.0.0.0", Port: 25, ListenerFilters: []string{wellknown.HTTPInspector}, Waiting: []string{wellknown.HTTPInspector}, FiltersTimeout: ptr(1500 * time.Millisecond)}}
	if diff := cmp.Diff(want, d.Listeners); diff != "" {
		t.Errorf("camelCase dump (-want +got):\n%s", diff)
	}
	for _, bad := range []struct{ name, data, want string }{
		{"not json", `not json`, "is not JSON"},
		{"no configs", `{}`, "holds no listeners"},
		{"bad timeout", `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamic_listeners":[{"active_state":{"listener":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"l","listener_filters_timeout":"soon"}}}]}]}`, "holds no listeners"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := Parse([]byte(bad.data), bad.name, envoy.Tolerant); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Parse: error %v, want it to say %q", err, bad.want)
			}
		})
	}
}
