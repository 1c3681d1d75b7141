package generator

import (
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
)

// The line make test compiles accepts every catalogue scenario's objects
// and meshConfig, ALLOW_ANY_DYNAMIC_DNS included, so none is skipped.
func TestCatalogueValidates(t *testing.T) {
	for _, s := range scenarios.Catalogue() {
		b, err := fixtures.Render(s, fixtures.WorldTopology())
		if err != nil {
			t.Fatalf("%s: %v", s.ID, err)
		}
		if r := Rejection(b); r != "" {
			t.Errorf("%s: %s", s.ID, r)
		}
	}
}

// What the line's own validation rejects is named with Istio's words and
// the object, and the cell says which line may accept it.
func TestRejection(t *testing.T) {
	s := scenarios.Catalogue()[0]
	b, err := fixtures.Render(s, fixtures.WorldTopology())
	if err != nil {
		t.Fatal(err)
	}
	build, err := Istio()
	if err != nil {
		t.Fatal(err)
	}

	bad := *b
	bad.MeshConfig = []byte("outboundTrafficPolicy:\n  mode: NOT_A_MODE\n")
	got := Rejection(&bad)
	if want := "needs Istio ≥ " + NextLine(build) + ": Istio " + build.Version() + " rejects it: meshConfig"; !strings.HasPrefix(got, want) || !strings.Contains(got, "NOT_A_MODE") {
		t.Errorf("an unknown outboundTrafficPolicy mode: %q; want it to start %q and name the value", got, want)
	}

	doc := []byte(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: narrow, namespace: ` + b.Topology.ClientNamespace + `}
spec:
  egress:
  - hosts: ["no-namespace-part"]
`)
	obj, err := fixtures.DecodeStrict(doc)
	if err != nil {
		t.Fatal(err)
	}
	bad = *b
	bad.Final = append(append([]fixtures.Object(nil), b.Final...), fixtures.Object{Kind: "Sidecar", Namespace: b.Topology.ClientNamespace, Name: "narrow", YAML: doc, Decoded: obj})
	if got := Rejection(&bad); !strings.Contains(got, "Sidecar/"+b.Topology.ClientNamespace+"/narrow") || !strings.Contains(got, "host must be of form namespace/dnsName") {
		t.Errorf("a Sidecar egress host without a namespace: %q; want the object and Istio's error", got)
	}
}

func TestNextLine(t *testing.T) {
	for b, want := range map[IstioBuild]string{
		{Line: "1.30", Branch: "release-1.30"}: "1.31",
		{Line: "1.31", Branch: "master"}:       "1.31",
		{Line: "1.9"}:                          "1.10",
	} {
		if got := NextLine(b); got != want {
			t.Errorf("NextLine(%+v) = %s, want %s", b, got, want)
		}
	}
}
