// Package meshgen writes synthetic meshes for analyze's tests and
// benchmark: namespaces, Services with a realistic mix of port
// declarations, their Deployments, ServiceEntries, a few Sidecars and
// capture annotations, and a handful of planted server-first hazards.
// The output is a multi-document YAML stream, as kubectl would print it.
//
// Its command is cmd/meshgen. analyze/meshgen/cmd is a symlink to the
// repository's cmd folder, so the path earlier docs and scripts name,
// `go run ./analyze/meshgen/cmd/meshgen`, still builds that one command
// (a symlink, not a folder: every binary lives under cmd/, and `./...`
// does not follow symlinks, so nothing is listed twice).
package meshgen

import (
	"fmt"
	"io"
	"math/rand/v2"
)

// Options size the mesh.
type Options struct {
	Namespaces, Services, ServiceEntries int
	// Seed makes the mesh reproducible.
	Seed uint64
}

// Planted hazards every generated mesh carries, so the benchmark walks
// findings and their remediation checks, not only clean ports.
const (
	// CollidingPort carries an http Service port and an external MySQL.
	CollidingPort = 10000
	// ExternalMySQL is the server-first destination on CollidingPort.
	ExternalMySQL = "203.0.113.7:10000"
)

// Write writes the mesh as YAML.
func Write(w io.Writer, o Options) error {
	r := rand.New(rand.NewPCG(o.Seed, 1))
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n    accessLogFile: /dev/stdout\n")
	for n := 0; n < o.Namespaces; n++ {
		p("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns-%02d, labels: {istio-injection: enabled}}\n", n)
		if n%10 == 9 { // some namespaces limit their egress
			p("---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: ns-%02d}\nspec:\n  egress:\n  - hosts: [\"./*\", \"istio-system/*\", \"ns-00/*\"]\n", n)
		}
	}
	kinds := []string{"http", "http-web", "grpc", "tcp-db", "", "web", "https", "tcp"}
	for i := 0; i < o.Services; i++ {
		ns := fmt.Sprintf("ns-%02d", i%o.Namespaces)
		name := fmt.Sprintf("svc-%04d", i)
		ip := fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250)
		p("---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec:\n  clusterIP: %s\n  selector: {app: %s}\n  ports:\n", name, ns, ip, name)
		k := kinds[r.IntN(len(kinds))]
		port := 8000 + r.IntN(60) // HTTP and sniffed ports
		if k == "tcp-db" || k == "tcp" {
			port = 9100 + r.IntN(60) // TCP ports on their own range: hazards are planted, not random
		}
		if k == "" {
			p("  - {port: %d, targetPort: 8080}\n", port)
		} else {
			p("  - {name: %s, port: %d, targetPort: 8080}\n", k, port)
		}
		p("  - {name: http-metrics, port: 9090}\n")
		if i == 7 { // the planted collider
			p("  - {name: http-admin, port: %d}\n", CollidingPort)
		}
		ann := ""
		if i%97 == 0 {
			ann = "\n      annotations: {traffic.sidecar.istio.io/excludeOutboundPorts: \"5432\"}"
		}
		p("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata:\n      labels: {app: %s}%s\n    spec:\n      containers:\n      - {name: app, image: app:1, ports: [{containerPort: 8080}]}\n", name, ns, name, name, ann)
	}
	for i := 0; i < o.ServiceEntries; i++ {
		ns := fmt.Sprintf("ns-%02d", i%o.Namespaces)
		switch i % 4 {
		case 0, 1: // TCP databases, declared with addresses
			p("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db-%03d, namespace: %s}\nspec:\n  hosts: [db-%03d.example.com]\n  addresses: [198.51.100.%d/32]\n  location: MESH_EXTERNAL\n  resolution: STATIC\n  ports:\n  - {number: %d, name: tcp-mysql, protocol: TCP}\n  endpoints:\n  - address: 198.51.100.%d\n", i, ns, i, 1+i%250, 3306+i%20, 1+i%250)
		case 2: // HTTPS APIs
			p("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: api-%03d, namespace: %s}\nspec:\n  hosts: [api-%03d.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  ports:\n  - {number: 443, name: https, protocol: HTTPS}\n", i, ns, i)
		default: // plain HTTP APIs on their own ports
			p("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web-%03d, namespace: %s}\nspec:\n  hosts: [web-%03d.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  ports:\n  - {number: %d, name: http, protocol: HTTP}\n", i, ns, i, 7000+i%30)
		}
	}
	// The planted IST0134 case: a TCP ServiceEntry without addresses.
	p("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: legacy-db, namespace: ns-00}\nspec:\n  hosts: [legacy-db.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  ports:\n  - {number: 5433, name: tcp-pg, protocol: TCP}\n")
	return nil
}
