package configdump

import (
	"slices"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/targets/kube/configdump/configdumptest"
)

func load(t *testing.T, name string) *Dump {
	t.Helper()
	data, err := configdumptest.Sample(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data, name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHangingSidecar(t *testing.T) {
	d := load(t, "mysql-10000-http")
	l, ok := d.Listener("0.0.0.0_10000")
	if !ok {
		t.Fatalf("no 0.0.0.0_10000 among %v", d.ListenerNames())
	}
	if !l.Inspects("http_inspector") || !l.Sniffs() {
		t.Errorf("0.0.0.0_10000 listener filters = %v, want http_inspector", l.ListenerFilters)
	}
	if l.FiltersTimeout == nil || *l.FiltersTimeout != 0 {
		t.Errorf("listener_filters_timeout = %v, want 0s", l.FiltersTimeout)
	}
	if l.Address != "0.0.0.0" || l.Port != 10000 {
		t.Errorf("address = %s:%d", l.Address, l.Port)
	}
	if !slices.Contains(l.TCPProxyClusters, "PassthroughCluster") {
		t.Errorf("default chain clusters = %v, want PassthroughCluster", l.TCPProxyClusters)
	}
	if c, ok := d.Cluster("outbound|10000||collider.fb-collider.svc.cluster.local"); !ok || c.TLS() != "auto" {
		t.Errorf("collider cluster %+v (present %v), want auto mTLS; clusters %v", c, ok, d.ClusterNames())
	}
	vo, _ := d.Listener("virtualOutbound")
	if vo.FiltersTimeout != nil {
		t.Errorf("virtualOutbound has no listener_filters_timeout in Istio's config, got %v", *vo.FiltersTimeout)
	}
}

func TestDetectionTimeout(t *testing.T) {
	l, _ := load(t, "mysql-10000-http-protocol-detection-timeout").Listener("0.0.0.0_10000")
	if l.FiltersTimeout == nil || *l.FiltersTimeout != time.Second {
		t.Errorf("listener_filters_timeout = %v, want 1s", l.FiltersTimeout)
	}
}

func TestServiceEntryListener(t *testing.T) {
	l, ok := load(t, "mysql-10000-http-serviceentry-tcp").Listener("198.51.100.7_10000")
	if !ok || l.Sniffs() || !slices.Contains(l.TCPProxyClusters, "outbound|10000||mysql.external.firstbyte.test") {
		t.Errorf("198.51.100.7_10000 = %+v (present %v), want a plain tcp_proxy to the ServiceEntry", l, ok)
	}
}

func TestCamelCaseAndErrors(t *testing.T) {
	camel := `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamicListeners":[{"activeState":{"listener":{"name":"0.0.0.0_25","address":{"socketAddress":{"address":"0.0.0.0","portValue":25}},"listenerFilters":[{"name":"envoy.filters.listener.http_inspector"}],"listenerFiltersTimeout":"1.500s"}}},{"name":"warming","warmingState":{}}]}]}`
	d, err := Parse([]byte(camel), "camel")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Listeners) != 1 || d.Listeners[0].Port != 25 || *d.Listeners[0].FiltersTimeout != 1500*time.Millisecond {
		t.Errorf("camelCase dump read as %+v", d.Listeners)
	}
	for _, bad := range []string{`not json`, `{}`, `{"configs":[{"@type":"x.ListenersConfigDump","dynamic_listeners":[{"active_state":{"listener":{"name":"l","listener_filters_timeout":"soon"}}}]}]}`} {
		if _, err := Parse([]byte(bad), "bad"); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

// The server sidecar's inbound chains for the port show the mTLS mode and
// the authorization policy; the client's cluster shows the DestinationRule.
func TestInbound(t *testing.T) {
	mode := func(id string) (mtls, plain bool, rbac []string) {
		vi, ok := load(t, id+".server").Listener("virtualInbound")
		if !ok {
			t.Fatalf("%s: no virtualInbound", id)
		}
		for _, c := range vi.ChainsFor(10000) {
			mtls = mtls || c.TerminatesTLS
			plain = plain || c.TransportProtocol == "raw_buffer"
			rbac = append(rbac, c.RBAC...)
		}
		return
	}
	for id, want := range map[string][2]bool{
		"mysql-inbound-tcp-pa-disable-dr-disable":    {false, true},
		"mysql-inbound-tcp-pa-permissive-dr-disable": {true, true},
		"mysql-inbound-tcp-pa-strict-dr-disable":     {true, false},
	} {
		if m, p, _ := mode(id); m != want[0] || p != want[1] {
			t.Errorf("%s: mtls %v plaintext %v, want %v %v", id, m, p, want[0], want[1])
		}
	}
	if _, _, rbac := mode("mysql-inbound-tcp-pa-strict-authz-deny"); !slices.Equal(rbac, []string{"DENY"}) {
		t.Errorf("deny policy: rbac %v", rbac)
	}
	if _, _, rbac := mode("mysql-inbound-tcp-pa-strict-authz-allow"); !slices.Equal(rbac, []string{"ALLOW"}) {
		t.Errorf("allow policy: rbac %v", rbac)
	}
	for id, want := range map[string]string{
		"mysql-inbound-tcp-pa-disable-dr-mtls.client":    "mutual",
		"mysql-inbound-tcp-pa-disable-dr-disable.client": "plaintext",
		"mysql-inbound-tcp-pa-permissive.client":         "auto",
	} {
		c, _ := load(t, id).Cluster("outbound|10000||server.fb-server.svc.cluster.local")
		if c.TLS() != want {
			t.Errorf("%s: server cluster TLS %s, want %s (%+v)", id, c.TLS(), want, c)
		}
	}
}
