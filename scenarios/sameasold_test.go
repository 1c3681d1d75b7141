package scenarios

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"github.com/google/go-cmp/cmp"
	yaml3 "go.yaml.in/yaml/v3"
)

// The new loader against the old (oldloader_test.go), while both exist.

// FuzzSameAsOld: the new loader accepts what the old one did, with the
// same scenarios, and rejects what it did, with the same problems (in
// line order).
func FuzzSameAsOld(f *testing.F) {
	files, _ := filepath.Glob("examples/*.yaml")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	for _, data := range catalogueData() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if why := librariesDisagree(data); why != "" {
			return
		}
		oldList, oldErr := parseOld("f.yaml", data)
		newList, newErr := Parse("f.yaml", data)
		if blankWhy(newErr) {
			return
		}
		if d := cmp.Diff(oldList, newList); d != "" {
			t.Fatalf("scenarios differ (-old +new):\n%s\nold err %v\nnew err %v", d, oldErr, newErr)
		}
		if (oldErr == nil) != (newErr == nil) {
			t.Fatalf("old %v, new %v", oldErr, newErr)
		}
		if oldErr != nil && strings.Contains(oldErr.Error(), "already defined at [") {
			return // goccy's syntax error for a file that also repeats a key
		}
		if oldErr != nil {
			o, n := errLines(oldErr), errLines(newErr)
			if d := cmp.Diff(o, n); d != "" {
				t.Fatalf("errors differ (-old +new):\n%s", d)
			}
		}
	})
}

// librariesDisagree says how yaml.v3 (the old loader's parser) and
// goccy/go-yaml (the new one's) read data differently, if they do.
func librariesDisagree(data []byte) string {
	var node yaml3.Node
	_, pa := goccyparser.ParseBytes(data, 0, goccyparser.AllowDuplicateMapKey())
	if pb := yaml3.Unmarshal(data, &node); (pa == nil) != (pb == nil) {
		return fmt.Sprintf("goccy: %v; yaml.v3: %v", pa, pb)
	}
	var a, b any
	ea := yaml3.Unmarshal(data, &a)
	eb := goccy.Unmarshal(data, &b)
	if ea != nil || eb != nil {
		return ""
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || fmt.Sprint(a) != fmt.Sprint(b) {
		return fmt.Sprintf("yaml.v3 reads %s, goccy %s", ja, jb)
	}
	return ""
}

// blankWhy: the old loader accepted a blank why (FuzzLoad's
// testdata/fuzz/FuzzLoad/empty-why); the new one rejects it, and then
// skips the item (a later duplicate id is no longer one).
func blankWhy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "why: is empty: want one line")
}

func errLines(err error) []string {
	l := strings.Split(err.Error(), "\n")
	slices.SortStableFunc(l, func(a, b string) int {
		return strings.Compare(strings.SplitN(a, ": ", 2)[0], strings.SplitN(b, ": ", 2)[0])
	})
	return l
}

// TestSameAsOldRandom builds scenario files from random choices per field
// (absent, valid, invalid, odd YAML) and compares the two loaders.
func TestSameAsOldRandom(t *testing.T) {
	odd := []string{"", "~", "null", "[a]", "{a: b}", "&x v", "!!str 1", "'q'", "\"\"", "0", "[]", "{}"}
	values := map[string][]string{
		"id":                  {"a", "b"},
		"why":                 {"w"},
		"family":              {"collision", "server-port", "inbound", "dns-capture", "ambient"},
		"protocol":            {"mysql", "smtp", "mongo", "dns"},
		"placement":           {"external", "in-mesh"},
		"port":                {"10000", "3306"},
		"serverPort":          {"{portName: db}", "{portName: tcp, appProtocol: TCP}", "{}"},
		"collider":            {"http", "tcp", "none", "{portName: http, type: Headless}", "{portName: http, type: ClusterIP}"},
		"remediation":         {"none", "serviceentry-tcp", "serviceentry-tcp-without-addresses", "port-separation", "exclude-ip-ranges", "collider-port-tcp", "exclude-ports", "protocol-detection-timeout", "sidecar-egress", "sidecar-outbound-policy", "{kind: protocol-detection-timeout, timeout: 2s}", "{kind: serviceentry-tcp, resolution: NONE, endpoints: []}", "{kind: serviceentry-tcp, resolution: DNS}", "{kind: serviceentry-tcp-without-addresses, resolution: DNS, endpoints: [server]}", "{kind: serviceentry-tcp, resolution: NONE, addresses: [cidr], endpoints: []}", "{}"},
		"mesh":                {"{protocolDetectionTimeout: 1s}", "{outboundTrafficPolicy: REGISTRY_ONLY}", "{}"},
		"serverSidecar":       {"true", "false"},
		"clientSidecar":       {"true", "false"},
		"peerAuthentication":  {"STRICT", "PERMISSIVE", "DISABLE"},
		"destinationRuleTLS":  {"ISTIO_MUTUAL", "DISABLE"},
		"authorizationPolicy": {"allow-client", "deny-client"},
		"dial":                {"ip", "name"},
		"dnsCapture":          {"true", "false"},
		"mode":                {"ambient", "sidecar"},
		"waypoint":            {"none", "service", "workload", "all"},
		"client":              {"ambient", "sidecar", "outside"},
		"expect":              {"connects", "hangs", "fails reset", "connects-after 1s"},
		"bogus":               {"1"},
	}
	bad := map[string][]string{
		"id":          {"Bad_ID"},
		"why":         {"' '"},
		"family":      {"bogus"},
		"protocol":    {"pg"},
		"placement":   {"elsewhere"},
		"port":        {"70000", "x"},
		"serverPort":  {"{portName: HTTP_X}", "{appProtocol: 'a b'}", "{x: 1}"},
		"collider":    {"grpc", "{portName: http, type: LB}"},
		"remediation": {"retry", "{kind: exclude-ports, timeout: 1s}", "{kind: serviceentry-tcp, resolution: NONE}", "{kind: serviceentry-tcp, resolution: DNS, addresses: [cidr]}", "{kind: serviceentry-tcp, resolution: DNS, endpoints: []}", "{kind: serviceentry-tcp-without-addresses, addresses: [server, server]}", "{kind: exclude-ports, resolution: NONE, endpoints: [x]}", "{kind: serviceentry-tcp, addresses: server}", "{timeout: soon}"},
		"mesh":        {"{outboundTrafficPolicy: DENY}", "{protocolDetectionTimeout: -1s}"},
	}
	keys := slices.Sorted(maps.Keys(values))
	rng := rand.New(rand.NewPCG(1, 2))
	var accepted, syntax int
	defer func() { t.Logf("accepted %d, syntax errors %d", accepted, syntax) }()
	for i := range 20000 {
		var b strings.Builder
		b.WriteString("scenarios:\n")
		for range 1 + rng.IntN(2) {
			b.WriteString("  -")
			for _, k := range keys {
				p := 0.2
				if slices.Contains([]string{"id", "why", "protocol", "placement", "port", "expect"}, k) {
					p = 0.95
				}
				if k == "bogus" {
					p = 0.005
				}
				if rng.Float64() > p {
					continue
				}
				v := values[k][rng.IntN(len(values[k]))]
				if bad[k] != nil && rng.Float64() < 0.04 {
					v = bad[k][rng.IntN(len(bad[k]))]
				}
				if rng.Float64() < 0.01 {
					v = odd[rng.IntN(len(odd))]
				}
				fmt.Fprintf(&b, " %s: %s\n   ", k, v)
			}
			b.WriteString("\n")
		}
		data := []byte(b.String())
		oldList, oldErr := parseOld("f.yaml", data)
		if oldErr == nil {
			accepted++
		} else if strings.Contains(oldErr.Error(), "(yaml)") {
			syntax++
		}
		newList, newErr := Parse("f.yaml", data)
		if blankWhy(newErr) {
			continue
		}
		if d := cmp.Diff(oldList, newList); d != "" || (oldErr == nil) != (newErr == nil) {
			t.Fatalf("%d: %s\nscenarios differ (-old +new):\n%s\nold err %v\nnew err %v", i, data, d, oldErr, newErr)
		}
		if oldErr != nil {
			if d := cmp.Diff(errLines(oldErr), errLines(newErr)); d != "" {
				t.Fatalf("%d: %s\nerrors differ (-old +new):\n%s", i, data, d)
			}
		}
	}
}
