package local

import (
	"github.com/firstbyte/firstbyte/fixtures"
	"net/netip"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
)

// BenchmarkDecision prices one connection's decision on the client
// sidecar, both ways: "simulation" is what the emulator did per accepted
// connection before decisions were made in advance (Istio's simulation for
// the listener, then again for the chain), "lookup" what it does now.
// Run it idle and with CPU burners to see what the wire path paid:
//
//	go test ./targets/local -run '^$' -bench Decision -benchtime 2s
func BenchmarkDecision(b *testing.B) {
	l := New()
	for _, id := range []string{"mysql-10000-no-collider", "smtp-mesh-25-db", "mysql-inbound-tcp-pa-disable-dr-disable"} {
		bu, cfg := renderedSidecar(b, l, id)
		dst, _ := predict.Destination(bu)
		p := outboundPlanner{cfg: cfg, plaintextPeers: []netip.Addr{fixtures.WorldColliderPodIP, fixtures.WorldServerIP}}
		// The first decision on a configuration also builds Istio's
		// simulation over it (a copy of every listener): what the first
		// connection of a scenario paid when no earlier scenario had
		// decided on the same generated configuration.
		b.Run(id+"/first-simulation", func(b *testing.B) {
			for b.Loop() {
				fresh := outboundPlanner{cfg: &envoy.Config{Listeners: cfg.Listeners, Clusters: cfg.Clusters, Routes: cfg.Routes, Endpoints: cfg.Endpoints, EndpointsKnown: cfg.EndpointsKnown}, plaintextPeers: p.plaintextPeers}
				if _, err := fresh.inspect(dst); err != nil {
					b.Fatal(err)
				}
				if _, err := fresh.route(dst, envoy.NoClientBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(id+"/simulation", func(b *testing.B) {
			for b.Loop() {
				if _, err := p.inspect(dst); err != nil {
					b.Fatal(err)
				}
				if _, err := p.route(dst, envoy.NoClientBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
		t := decide(clientSide, p, []netip.AddrPort{dst}, nil)
		b.Run(id+"/lookup", func(b *testing.B) {
			for b.Loop() {
				if _, err := t.Inspect(dst); err != nil {
					b.Fatal(err)
				}
				if _, err := t.Route(dst, dataplane.Detection{}, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
