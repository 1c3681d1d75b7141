package predict

import (
	"fmt"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/google/go-cmp/cmp"
)

// blindCase is the row that found the two worlds: SMTP on 2525, an http
// collider, and a STATIC ServiceEntry for the server's /24.
const blindCase = `scenarios:
  - id: smtp-2525-http-serviceentry-cidr
    why: the ServiceEntry's CIDR listener takes the server's /24 with a plain tcp_proxy
    protocol: smtp
    placement: external
    port: 2525
    collider: http
    remediation: {kind: serviceentry-tcp, resolution: STATIC, addresses: [cidr], endpoints: [server]}
    expect: connects
`

func parseOne(t *testing.T, body string) scenarios.Scenario {
	t.Helper()
	list, err := scenarios.Parse("test.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return list[0]
}

// The collider check is walked like the probe: in the one world the blind
// case's /24 holds the server alone and the check answers; in a world
// where the server's /24 holds the collider's VIP (the local target's
// plan before the one world: server 198.18.0.10, VIP 198.18.0.30) the same
// walk predicts what local observed, the request reaching the SMTP server.
func TestColliderCheck(t *testing.T) {
	oldLocal := Topology()
	oldLocal.ServerIP, oldLocal.ServerClusterIP, oldLocal.ColliderClusterIP = "198.18.0.10", "198.18.0.20", "198.18.0.30"
	tcpCollider := parseOne(t, `scenarios:
  - id: mysql-10000-tcp
    why: x
    protocol: mysql
    placement: external
    port: 10000
    collider: tcp
    expect: connects
`)
	registryOnlyEgress := parseOne(t, `scenarios:
  - id: mysql-10000-http-registry-only-sidecar-egress
    why: x
    protocol: mysql
    placement: external
    port: 10000
    collider: http
    remediation: sidecar-egress
    mesh: {outboundTrafficPolicy: REGISTRY_ONLY}
    expect: fails reset
`)
	cases := []struct {
		name  string
		s     scenarios.Scenario
		topo  fixtures.Topology
		reach ColliderReach
		to    string
	}{
		{"blind case in the one world", parseOne(t, blindCase), Topology(), ColliderAnswers, "198.18.4.30:2525"},
		{"blind case where the /24 holds the collider's VIP", parseOne(t, blindCase), oldLocal, ColliderMisrouted, "198.18.0.10:2525"},
		{"tcp collider", tcpCollider, Topology(), ColliderAnswers, "198.18.4.30:10000"},
		{"REGISTRY_ONLY, Sidecar egress without the collider", registryOnlyEgress, Topology(), ColliderFails, ""},
	}
	p := NewPredictor()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := fixtures.Render(c.s, c.topo)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.ColliderCheck(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, got.Walk)
			}
			to := ""
			if got.Upstream.IsValid() {
				to = got.Upstream.String()
			}
			if diff := cmp.Diff(fmt.Sprint(c.reach, " ", c.to), fmt.Sprint(got.Reach, " ", to)); diff != "" {
				t.Errorf("reach and upstream (-want +got):\n%s\n%s\n%s", diff, got, got.Walk)
			}
		})
	}
}

// Judge turns the prediction into the runner's assertion: a predicted
// answer wants no error, a predicted misroute or failure wants one.
func TestColliderCheckJudge(t *testing.T) {
	failed := fmt.Errorf(`malformed HTTP status code "firstbyte.local"`)
	cases := []struct {
		reach    ColliderReach
		observed error
		agree    bool
	}{
		{ColliderAnswers, nil, true},
		{ColliderAnswers, failed, false},
		{ColliderMisrouted, failed, true},
		{ColliderMisrouted, nil, false},
		{ColliderFails, failed, true},
		{ColliderFails, nil, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%v", c.reach, c.observed), func(t *testing.T) {
			why := ColliderCheck{Reach: c.reach, Predicted: true, Why: "test"}.Judge(c.observed)
			if (why == "") != c.agree {
				t.Errorf("Judge = %q, want agreement %v", why, c.agree)
			}
		})
	}
}

// Every catalogue row with a collider has a walked collider check in the
// one world; the log lists the rows whose check does not answer.
func TestColliderCheckCatalogue(t *testing.T) {
	p := NewPredictor()
	counts := map[ColliderReach]int{}
	for _, s := range scenarios.Catalogue() {
		b, err := p.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		// The suite checks the collider with the remediation applied.
		c, err := ExpectColliderCheck(b)
		if err != nil {
			t.Errorf("%s: %v\n%s", s.ID, err, c.Walk)
			continue
		}
		if !c.Predicted {
			continue
		}
		counts[c.Reach]++
		if c.Reach != ColliderAnswers {
			t.Logf("%s: %s", s.ID, c)
		}
	}
	t.Logf("collider checks: %v", counts)
	if counts[ColliderAnswers] == 0 {
		t.Error("no collider check answers")
	}
}
