package generator

import (
	"errors"
	"fmt"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config/mesh"
)

// Rejection says whether the Istio this binary links accepts a rendered
// scenario, as its own validation decides: the meshConfig through
// mesh.ApplyMeshConfigDefaults (the protobuf parse, then
// agent.ValidateMeshConfig, as istiod reads its ConfigMap), and each
// Istio or Gateway API object through crd.ParseInputs (the kind's
// schema and validator, as the admission webhook and istioctl validate
// run it). It returns "" when the line accepts the input, so predict
// predicts what this line's generator builds from it, and otherwise the
// cell text: "needs Istio ≥ X: Istio <this build> rejects <what>: <its
// validation error>".
//
// A line is never asked whether it "has a feature": an API that accepts a
// value its pilot does not act on (1.30 accepts ALLOW_ANY_DYNAMIC_DNS
// and builds it as not-allow-any) gets a real prediction of what that
// pilot builds, which is what an upgrade gate needs to compare.
func Rejection(b *fixtures.Bundle) string {
	err := Validate(b)
	if err == nil {
		return ""
	}
	build, berr := Istio()
	if berr != nil {
		return fmt.Sprintf("needs another Istio: this build's validation rejects it: %v (and reading its version failed: %v)", err, berr)
	}
	return fmt.Sprintf("needs Istio ≥ %s: Istio %s rejects it: %v", NextLine(build), build.Version(), err)
}

// Validate runs this Istio's validation over a bundle's final meshConfig
// and Istio objects; the error names the object and carries Istio's words.
func Validate(b *fixtures.Bundle) error {
	var errs []error
	if _, err := mesh.ApplyMeshConfigDefaults(string(b.MeshConfig)); err != nil {
		errs = append(errs, fmt.Errorf("meshConfig %s: %w", strings.TrimSpace(string(b.MeshConfig)), err))
	}
	for _, o := range b.Final {
		gvk := o.Decoded.GetObjectKind().GroupVersionKind()
		if !strings.HasSuffix(gvk.Group, "istio.io") && gvk.Group != "gateway.networking.k8s.io" {
			continue
		}
		if _, _, err := crd.ParseInputs(string(o.YAML)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// NextLine is the first Istio line that may accept what this build
// rejects: the next minor after a release branch, and the build's own
// VERSION for master, whose VERSION names the release it prepares.
func NextLine(b IstioBuild) string {
	if b.Branch == "master" {
		return b.Line
	}
	var major, minor int
	if _, err := fmt.Sscanf(b.Line, "%d.%d", &major, &minor); err != nil {
		return "a newer line than " + b.Line
	}
	return fmt.Sprintf("%d.%d", major, minor+1)
}
